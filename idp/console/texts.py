"""The console's words, in Swedish and English (idp.web.i18n)."""

from __future__ import annotations

from idp.web import i18n

i18n.register(
    {
        "console.title": {"sv": "Kundtjänstkonsol", "en": "Customer-service console"},
        "console.intro": {
            "sv": "Här bekräftar du vem som ringer: kunden legitimerar sig med BankID i sin "
            "telefon och du ser resultatet. Logga in med ditt eget BankID för att börja.",
            "en": "Confirm who is calling: the customer identifies with BankID on their phone "
            "and you see the result. Log in with your own BankID to start.",
        },
        "console.sign_in": {"sv": "Logga in med BankID", "en": "Log in with BankID"},
        "console.simulator": {
            "sv": "Ingen BankID-app? Godkänn i BankID-simulatorn.",
            "en": "No BankID app? Approve in the BankID simulator.",
        },
        "console.simulator_link": {
            "sv": "Öppna BankID-simulatorn",
            "en": "Open the BankID simulator",
        },
        "console.not_staff": {
            "sv": "Du finns inte med bland den här konsolens personal",
            "en": "You are not on this console's staff list",
        },
        "console.not_staff_body": {
            "sv": "Du loggade in, men konsolen är bara öppen för den personal som står i "
            "tjänstens konfiguration. Kontakta den som ansvarar för tjänsten om du ska ha "
            "tillgång.",
            "en": "You logged in, but the console is open only to the staff listed in the "
            "service's configuration. Ask the person responsible for the service if you "
            "should have access.",
        },
        "console.login_failed": {
            "sv": "Inloggningen lyckades inte",
            "en": "The login did not succeed",
        },
        "console.login_expired": {
            "sv": "Inloggningen hittades inte (den har redan använts eller gått ut). Försök igen.",
            "en": "The login was not found (it was already used or has expired). Try again.",
        },
        "console.try_again": {"sv": "Försök igen", "en": "Try again"},
        "console.signed_in_as": {"sv": "Inloggad som {name}", "en": "Signed in as {name}"},
        "console.operator_role": {"sv": "operatör", "en": "operator"},
        "console.nav": {"sv": "Konsolen", "en": "Console"},
        "console.nav_new": {"sv": "Ny förfrågan", "en": "New request"},
        "console.nav_history": {"sv": "Mina förfrågningar", "en": "My requests"},
        "console.nav_operator": {"sv": "Alla förfrågningar", "en": "All requests"},
        "console.sign_out": {"sv": "Logga ut", "en": "Sign out"},
        "console.signed_out": {
            "sv": "Du är utloggad från konsolen.",
            "en": "You have signed out of the console.",
        },
        "console.session_expired": {
            "sv": "Din session har gått ut. Logga in igen.",
            "en": "Your session has expired. Log in again.",
        },
        "console.csrf": {
            "sv": "Formuläret har gått ut. Ladda om sidan och försök igen.",
            "en": "The form has expired. Reload the page and try again.",
        },
        "console.new_heading": {"sv": "Bekräfta vem som ringer", "en": "Confirm who is calling"},
        "console.pnr_label": {"sv": "Kundens personnummer", "en": "The caller's personal number"},
        "console.pnr_help": {
            "sv": "12 siffror: ÅÅÅÅMMDDNNNN (ett bindestreck före de fyra sista går bra).",
            "en": "12 digits: YYYYMMDDNNNN (a dash before the last four is fine).",
        },
        "console.pnr_format": {
            "sv": "Skriv 12 siffror: ÅÅÅÅMMDDNNNN.",
            "en": "Type 12 digits: YYYYMMDDNNNN.",
        },
        "console.pnr_date": {
            "sv": "De första åtta siffrorna är inget giltigt datum.",
            "en": "The first eight digits are not a valid date.",
        },
        "console.pnr_check": {
            "sv": "Kontrollsiffran stämmer inte. Kontrollera numret med kunden.",
            "en": "The check digit is wrong. Check the number with the caller.",
        },
        "console.pnr_ok": {"sv": "Personnumret ser rätt ut.", "en": "The number looks right."},
        "console.initiator": {"sv": "Vem ringde?", "en": "Who made the call?"},
        "console.initiator_rp": {"sv": "Vi ringde kunden", "en": "We called the customer"},
        "console.initiator_user": {"sv": "Kunden ringde oss", "en": "The customer called us"},
        "console.message_label": {
            "sv": "Meddelande i kundens BankID-app (valfritt)",
            "en": "Message shown in the caller's BankID app (optional)",
        },
        "console.message_help": {"sv": "Högst {max} tecken.", "en": "At most {max} characters."},
        "console.message_too_long": {
            "sv": "Meddelandet är för långt: högst {max} tecken.",
            "en": "The message is too long: at most {max} characters.",
        },
        "console.message_invalid": {
            "sv": "Meddelandet innehåller tecken som inte kan visas i BankID-appen.",
            "en": "The message has characters the BankID app cannot show.",
        },
        "console.sign_label": {
            "sv": "Text att signera (valfritt)",
            "en": "Text to sign (optional)",
        },
        "console.sign_help": {
            "sv": "Kunden signerar texten i BankID-appen i stället för att bara legitimera sig.",
            "en": "The caller signs this text in the BankID app instead of only identifying.",
        },
        "console.sign_too_long": {
            "sv": "Texten är för lång: högst {max} tecken.",
            "en": "The text is too long: at most {max} characters.",
        },
        "console.sign_invalid": {
            "sv": "Texten kan inte signeras ({error}).",
            "en": "The text cannot be signed ({error}).",
        },
        "console.send": {"sv": "Skicka till kundens BankID", "en": "Send to the caller's BankID"},
        "console.fix": {"sv": "Rätta det som är markerat.", "en": "Correct what is marked."},
        "console.rate_staff": {
            "sv": "Du har skickat många förfrågningar. Försök igen om {seconds} sekunder.",
            "en": "You have sent many requests. Try again in {seconds} seconds.",
        },
        "console.rate_provider": {
            "sv": "Tjänsten tar inte emot fler förfrågningar just nu (för den här kunden eller "
            "från konsolen). Försök igen om {seconds} sekunder.",
            "en": "The service takes no more requests now (for this caller or from the "
            "console). Try again in {seconds} seconds.",
        },
        "console.refused": {
            "sv": "Tjänsten tog inte emot förfrågan ({error}).",
            "en": "The service refused the request ({error}).",
        },
        "console.unavailable": {
            "sv": "Tjänsten svarar inte just nu. Försök igen om en stund.",
            "en": "The service does not answer just now. Try again shortly.",
        },
        "console.request_heading": {"sv": "Förfrågan till kunden", "en": "Request to the caller"},
        "console.state_label": {"sv": "Läge", "en": "State"},
        "console.state.pending": {"sv": "Väntar på kunden", "en": "Waiting for the customer"},
        "console.state.call_confirmed": {
            "sv": "Kunden har bekräftat samtalet; väntar på godkännande",
            "en": "The customer confirmed the call; waiting for approval",
        },
        "console.state.approved": {
            "sv": "Kunden har legitimerat sig",
            "en": "The customer has identified",
        },
        "console.state.declined": {
            "sv": "Kunden säger att de inte pratar med er i telefon",
            "en": "The customer said they are not on a call with you",
        },
        "console.state.cancelled": {"sv": "Kunden avbröt", "en": "The customer cancelled"},
        "console.state.refused": {
            "sv": "Legitimeringen lyckades inte",
            "en": "The identification did not succeed",
        },
        "console.state.expired": {"sv": "Förfrågan gick ut", "en": "The request expired"},
        "console.state.error": {
            "sv": "Svaret kunde inte hämtas eller kontrolleras",
            "en": "The answer could not be fetched or verified",
        },
        "console.verified": {"sv": "Kontrollerat av tjänsten", "en": "Verified by the service"},
        "console.signed": {"sv": "Signering", "en": "Signature"},
        "console.signed_yes": {
            "sv": "Kunden har signerat texten",
            "en": "The customer signed the text",
        },
        "console.name": {"sv": "Namn", "en": "Name"},
        "console.birthdate": {"sv": "Födelsedatum", "en": "Date of birth"},
        "console.age": {"sv": "Ålder", "en": "Age"},
        "console.signed_text": {"sv": "Signerad text", "en": "Signed text"},
        "console.reference": {"sv": "Referens", "en": "Reference"},
        "console.refresh": {"sv": "Uppdatera", "en": "Refresh"},
        "console.not_found": {
            "sv": "Förfrågan finns inte, eller har gått ut.",
            "en": "The request does not exist, or has expired.",
        },
        "console.history_heading": {"sv": "Mina förfrågningar", "en": "My requests"},
        "console.operator_heading": {"sv": "Alla förfrågningar", "en": "All requests"},
        "console.col_time": {"sv": "Tid (UTC)", "en": "Time (UTC)"},
        "console.col_outcome": {"sv": "Utfall", "en": "Outcome"},
        "console.col_reference": {"sv": "Referens", "en": "Reference"},
        "console.col_staff": {"sv": "Personal", "en": "Staff"},
        "console.history_empty": {"sv": "Inga förfrågningar än.", "en": "No requests yet."},
        "console.history_unavailable": {
            "sv": "Tjänsten erbjuder ingen historik.",
            "en": "The service offers no history.",
        },
        "console.forbidden": {
            "sv": "Den här sidan är bara för operatörer.",
            "en": "This page is for operators only.",
        },
        "console.outcome.pending": {"sv": "Pågår", "en": "In progress"},
        "console.outcome.approved": {"sv": "Godkänd", "en": "Approved"},
        "console.outcome.redeemed": {"sv": "Godkänd", "en": "Approved"},
        "console.outcome.denied": {"sv": "Nekad", "en": "Denied"},
        "console.outcome.declined": {"sv": "Inte i samtal", "en": "Not on a call"},
        "console.outcome.cancelled": {
            "sv": "Avbruten av kunden",
            "en": "Cancelled by the customer",
        },
        "console.outcome.expired": {"sv": "Gick ut", "en": "Expired"},
        "console.outcome.failed": {"sv": "Misslyckades", "en": "Failed"},
        "console.outcome.rejected": {"sv": "Avvisad", "en": "Rejected"},
        "console.unknown": {"sv": "okänd", "en": "unknown"},
    }
)
