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
