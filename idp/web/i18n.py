"""Swedish and English for everything a person sees; locale negotiation.

Order: an explicit choice (``ui_locales`` from the authorization request, or the language switch
kept in a cookie), then ``Accept-Language``, then the configured default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.requests import Request

LOCALES = ("sv", "en")
LANG_COOKIE = "idp_lang"

# Catalog: key -> {locale: text}. Feature packages add their own entries with `register`.
_CATALOG: dict[str, dict[str, str]] = {
    "lang.switch": {"sv": "In English", "en": "På svenska"},
    "lang.other": {"sv": "en", "en": "sv"},
    "page.title": {"sv": "Logga in", "en": "Log in"},
    "error.title": {"sv": "Något gick fel", "en": "Something went wrong"},
    "error.back": {
        "sv": "Gå tillbaka till tjänsten du kom ifrån och försök igen.",
        "en": "Go back to the service you came from and try again.",
    },
    "error.not_found": {"sv": "Sidan finns inte.", "en": "The page does not exist."},
    "error.internal": {
        "sv": "Ett oväntat fel inträffade. Försök igen om en stund.",
        "en": "An unexpected error occurred. Please try again in a moment.",
    },
    "error.unavailable": {
        "sv": "Tjänsten är tillfälligt otillgänglig. Försök igen om en stund.",
        "en": "The service is temporarily unavailable. Please try again in a moment.",
    },
    "error.too_many": {
        "sv": "För många försök från din anslutning. Vänta en stund och försök igen.",
        "en": "Too many attempts from your connection. Please wait a while and try again.",
    },
    "error.method": {"sv": "Metoden stöds inte här.", "en": "That method is not allowed here."},
    "error.bad_request": {"sv": "Ogiltig begäran.", "en": "Invalid request."},
    "error.code": {"sv": "Felkod", "en": "Error code"},
    "footer.text": {
        "sv": "Inloggning med BankID",
        "en": "Log in with BankID",
    },
    "footer.support": {"sv": "Hjälp och support", "en": "Help and support"},
    "footer.privacy": {"sv": "Så hanterar vi personuppgifter", "en": "How we handle personal data"},
    "error.support": {"sv": "Kontakta supporten", "en": "Contact support"},
    "logout.cancel": {"sv": "Avbryt, logga inte ut", "en": "Cancel, do not log out"},
    "logout.still_title": {"sv": "Du är fortfarande inloggad", "en": "You are still logged in"},
    "logout.still": {
        "sv": "Du loggades inte ut.",
        "en": "You were not logged out.",
    },
    "logout.back_to": {"sv": "Tillbaka till {client}", "en": "Back to {client}"},
    "logout.to_site": {"sv": "Till {name}", "en": "Go to {name}"},
    "logout.to_home": {"sv": "Till startsidan", "en": "Go to the home page"},
    "logout.close": {
        "sv": "Du kan stänga det här fönstret.",
        "en": "You can close this window.",
    },
}


def register(entries: Mapping[str, Mapping[str, str]]) -> None:
    for key, texts in entries.items():
        missing = [loc for loc in LOCALES if not texts.get(loc)]
        if missing:
            raise ValueError(f"message {key!r} lacks {missing}")
        _CATALOG[key] = dict(texts)


def translate(key: str, locale: str, **params: object) -> str:
    texts = _CATALOG.get(key)
    if texts is None:
        return key
    text = texts.get(locale) or texts["en"]
    return text.format(**params) if params else text


def pick(candidates: Iterable[str]) -> str | None:
    for raw in candidates:
        tag = raw.strip().lower()
        if not tag:
            continue
        primary = tag.split("-")[0]
        if primary in LOCALES:
            return primary
    return None


def from_accept_language(header: str | None) -> str | None:
    if not header:
        return None
    weighted = []
    for i, part in enumerate(header.split(",")):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if weight > 0:
            weighted.append((-weight, i, lang))
    return pick(lang for _, _, lang in sorted(weighted))


def negotiate(request: Request, default: str, explicit: Iterable[str] = ()) -> str:
    return (
        pick(explicit)
        or pick([request.query_params.get("lang", "")])
        or pick([request.cookies.get(LANG_COOKIE, "")])
        or from_accept_language(request.headers.get("accept-language"))
        or default
    )
