"""Cue phrases that hint at each kind of clutter, kept apart from the code.

They are features, not rules: the model learns how much each hit is worth.
Phrases are matched case-insensitively as substrings of a line, so keep them
specific enough not to fire inside ordinary article sentences.
"""

from classifier.labels import AD, DISCLAIMER, NAVIGATION, RELATED_LINKS

CUES: dict[str, tuple[str, ...]] = {
    NAVIGATION: (
        "home", "menu", "search", "sign in", "log in", "login", "sign up",
        "my account", "register", "share", "tweet", "facebook", "twitter",
        "whatsapp", "linkedin", "pinterest", "email this", "print", "copy link",
        "open in app", "comments", "leave a comment", "leave a reply",
        "join the conversation", "min read", "minute read", "tags:", "filed under",
        "next page", "previous", "page 1", "older posts", "newer posts",
        "back to top", "skip to", "cookie", "accept all", "privacy settings",
        "contact us", "about us", "careers", "sitemap", "breadcrumb", " / ", " | ",
        " > ", "»", "«",
    ),
    AD: (
        "advertisement", "advertising", "sponsored", "promoted", "partner content",
        "continues after", "continues below", "scroll to continue", "newsletter",
        "subscribe", "subscription", "sign up for", "in your inbox", "inbox",
        "free trial", "per month", "a week", "a month", "get the app",
        "download the app", "download our app", "app store", "google play",
        "donate", "support our", "support independent", "become a member",
        "membership", "unlock", "free articles", "% off", "discount", "promo code",
        "use code", "buy now", "shop now", "shop the", "deal", "offer",
    ),
    DISCLAIMER: (
        "©", "(c)", "copyright", "all rights reserved", "rights reserved",
        "terms of use", "terms of service", "terms and conditions", "privacy policy",
        "privacy notice", "reproduced", "republished", "originally appeared",
        "wire", "news agency", "associated press", "reuters", "afp", "syndicat",
        "affiliate", "commission", "earn a", "views expressed", "author's own",
        "do not necessarily", "not financial advice", "not medical advice",
        "for information only", "photo:", "photograph:", "image:", "credit:",
        "getty images", "/ agency", "reporting by", "editing by",
    ),
    RELATED_LINKS: (
        "related", "read more", "read next", "read also", "see also", "more from",
        "more stories", "more on", "you may also like", "you might also like",
        "recommended", "most read", "most popular", "popular", "trending",
        "top stories", "latest", "keep reading", "what to read next",
        "don't miss", "hours ago", "minutes ago", "days ago", "yesterday",
    ),
}

# Short words that make up much of running prose and little of menus and
# headline lists; their share in a line is a language-light "is prose" signal.
FUNCTION_WORDS: frozenset[str] = frozenset(
    """a an the and or but of to in on at for with from by as is are was were be
    been being it its this that these those he she they we you i his her their
    our your my not no so if then than there which who whom what when where how
    has have had do does did will would can could should may might must also
    into about after before over under between while because just only very
    de la le les des et en un une el los las y del que di il che per der die das
    und ist nicht mit von""".split()
)


# -- cues for deriving labels from pages with a gold main text ----------------
# (used by classifier.weaklabels, not by the model)

# class/id tokens of ancestors that mark each kind of clutter block.
MARKUP_TOKENS: dict[str, frozenset[str]] = {
    AD: frozenset("""ad ads adv advert advertisement advertising adslot adunit adsense
        adcontainer ad-container dfp gpt doubleclick sponsor sponsored sponsorship
        promoted taboola outbrain zergnet newsletter newsletters subscribe
        paywall donate donation donations upsell""".split()),
    RELATED_LINKS: frozenset("""related recommended recommendations recommendation
        recirc recirculation more-stories morestories readmore read-more mostread
        most-read most-popular further next-article teaser teasers
        suggested suggestions similar you-may-like ymal""".split()),
    DISCLAIMER: frozenset("""copyright disclaimer disclosure photo-credit
        image-credit attribution""".split()),
}

# class/id tokens and text of cookie and consent banners, which are
# NAVIGATION however legal they sound.
CONSENT_TOKENS: frozenset[str] = frozenset("cookie cookies consent gdpr onetrust cmp".split())
CONSENT_TEXT = r"\bcookies?\b|\bconsent\b"

# Text that marks a line as each kind of clutter, matched case-insensitively
# at the start of the line (ANCHORED) or anywhere in it (ANYWHERE).
TEXT_PATTERNS: dict[str, tuple[str, ...]] = {
    DISCLAIMER: (
        r"^\s*(©|\(c\)\s*\d{4}|copyright\b)", r"all rights reserved",
        r"\bterms (of (use|service)|and conditions)\b", r"\bprivacy (policy|notice|statement)\b",
        r"\baffiliate\b.*\b(link|commission)", r"\bearn (a|an) (small )?commission\b",
        r"^(photo|photograph|image|picture|credit|source)s?\s*:", r"\bgetty images\b",
        r"\bshutterstock\b", r"\b(associated press|reuters|agence france|afp|dpa)\b",
        r"\bviews (expressed )?(are|in this).*\bown\b", r"\bnot (financial|medical|legal) advice\b",
        r"\boriginally (appeared|published)\b", r"\brepublished\b",
    ),
    AD: (
        r"^advertisement\b", r"^advertising\b", r"^ad$", r"^sponsored\b", r"^promoted\b",
        r"\b(article|story|content) continues (after|below)\b", r"\bsponsored (content|by)\b",
        r"\bsign up (for|to) (our|the)\b.*\bnewsletter", r"\bnewsletter\b", r"\bin your inbox\b",
        r"\bsubscribe (now|today|for)\b", r"\bfree trial\b", r"\bdonate\b",
        r"\bdownload (the|our) app\b", r"\bget the app\b", r"\bpromo code\b", r"\buse code\b",
        r"\bshop now\b", r"\bbuy now\b",
    ),
    RELATED_LINKS: (
        r"^related\b", r"^read (more|next|also)\b", r"^see also\b", r"^more (from|on|in|stories|news)\b",
        r"^you (may|might) (also )?(like|enjoy)\b", r"^recommended\b", r"^(most (read|popular|viewed))\b",
        r"^trending\b", r"^popular\b", r"^(top|latest) (stories|news|articles)\b",
        r"^further reading\b", r"^(keep|continue) reading\b", r"^up next\b", r"^editors?'? picks?\b",
    ),
}

# Regions whose links are site furniture rather than pointers to articles.
FURNITURE_REGIONS: frozenset[str] = frozenset({"nav", "header", "footer", "form"})
