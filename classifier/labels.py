"""The five line labels: their names, order and meaning, in one place.

The order is the model's class order and matches the numbers of the
`declutter.v1.Label` enum (BODY = 1 ... RELATED_LINKS = 5).
"""

BODY = "BODY"
NAVIGATION = "NAVIGATION"
AD = "AD"
DISCLAIMER = "DISCLAIMER"
RELATED_LINKS = "RELATED_LINKS"

LABELS: tuple[str, ...] = (BODY, NAVIGATION, AD, DISCLAIMER, RELATED_LINKS)

MEANINGS: dict[str, str] = {
    BODY: "the article itself: headline, standfirst, paragraphs, subheadings, "
    "quotes, lists and tables of the story, byline, dateline, captions",
    NAVIGATION: "site furniture: menus, breadcrumbs, login and search, share "
    "buttons, comment prompts, reading time, tags, pagination, footer links, "
    "cookie banners",
    AD: "advertising and promotion: ad markers, sponsored content, newsletter, "
    "subscription, app and donation pitches, paywall upsells, product promotions",
    DISCLAIMER: "legal and editorial boilerplate: copyright, terms and privacy, "
    "agency-feed notes, affiliate disclosures, opinion disclaimers, photo credits",
    RELATED_LINKS: "pointers to other articles: related, read more, you may also "
    "like, trending and most-read lists, and the headlines in them",
}
