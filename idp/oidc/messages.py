"""Texts of the OIDC pages, in Swedish and English."""

from idp.web.i18n import register

register(
    {
        "authz.bad_request": {
            "sv": "Inloggningsbegäran är ogiltig.",
            "en": "The login request is invalid.",
        },
        "authz.unknown_client": {
            "sv": "Tjänsten som skickade dig hit är inte registrerad här.",
            "en": "The service that sent you here is not registered here.",
        },
        "authz.bad_redirect_uri": {
            "sv": "Tjänsten som skickade dig hit angav en returadress som inte är registrerad.",
            "en": "The service that sent you here gave a return address that is not registered.",
        },
        "authz.expired_login": {
            "sv": "Inloggningen har gått ut eller startades i en annan webbläsare.",
            "en": "The login has expired or was started in another browser.",
        },
        "logout.title": {"sv": "Logga ut", "en": "Log out"},
        "logout.question": {
            "sv": "Vill du logga ut?",
            "en": "Do you want to log out?",
        },
        "logout.question_client": {
            "sv": "{client} vill logga ut dig. Vill du logga ut?",
            "en": "{client} wants to log you out. Do you want to log out?",
        },
        "logout.confirm": {"sv": "Logga ut", "en": "Log out"},
        "logout.done_title": {"sv": "Utloggad", "en": "Logged out"},
        "logout.done": {"sv": "Du är nu utloggad.", "en": "You are now logged out."},
        "logout.bad_request": {
            "sv": "Utloggningsbegäran är ogiltig.",
            "en": "The logout request is invalid.",
        },
        "logout.bad_hint": {
            "sv": "Utloggningsbegäran innehåller en ogiltig inloggningsbiljett.",
            "en": "The logout request carries an invalid ID token.",
        },
        "logout.bad_redirect": {
            "sv": "Utloggningsbegäran angav en returadress som inte är registrerad.",
            "en": "The logout request gave a return address that is not registered.",
        },
    }
)
