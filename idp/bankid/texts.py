"""Swedish and English texts of the BankID login pages (the RFA texts themselves are in rfa.py)."""

from __future__ import annotations

from idp.web import i18n

TEXTS: dict[str, dict[str, str]] = {
    "bankid.title": {"sv": "Logga in med BankID", "en": "Log in with BankID"},
    "bankid.to_client": {
        "sv": "Du loggar in på {client}.",
        "en": "You are logging in to {client}.",
    },
    "bankid.this_device": {"sv": "BankID på den här enheten", "en": "BankID on this device"},
    "bankid.this_computer": {"sv": "BankID på den här datorn", "en": "BankID on this computer"},
    "bankid.other_device": {"sv": "BankID på en annan enhet", "en": "BankID on another device"},
    "bankid.mobile_bankid": {"sv": "Mobilt BankID", "en": "Mobile BankID"},
    "bankid.qr_heading": {
        "sv": "Skanna QR-koden med BankID-appen",
        "en": "Scan the QR code with the BankID app",
    },
    "bankid.qr_step1": {
        "sv": "Öppna BankID-appen i din mobil eller surfplatta.",
        "en": "Open the BankID app on your phone or tablet.",
    },
    "bankid.qr_step2": {"sv": "Tryck på QR-ikonen i appen.", "en": "Tap the QR icon in the app."},
    "bankid.qr_step3": {
        "sv": "Rikta kameran mot QR-koden på den här sidan.",
        "en": "Point the camera at the QR code on this page.",
    },
    "bankid.qr_alt": {
        "sv": "QR-kod för inloggning med BankID. Öppna BankID-appen på din mobil, tryck på "
        "QR-ikonen och rikta kameran mot koden. Koden byts varje sekund.",
        "en": "QR code for logging in with BankID. Open the BankID app on your phone, tap the "
        "QR icon and point the camera at the code. The code changes every second.",
    },
    "bankid.same_heading": {
        "sv": "BankID på den här enheten",
        "en": "BankID on this device",
    },
    "bankid.open_app": {"sv": "Öppna BankID-appen", "en": "Open the BankID app"},
    "bankid.open_hint": {
        "sv": "Om BankID-appen inte öppnas av sig själv, tryck på knappen.",
        "en": "If the BankID app does not open by itself, press the button.",
    },
    "bankid.use_other": {
        "sv": "Använd BankID på en annan enhet i stället",
        "en": "Use BankID on another device instead",
    },
    "bankid.use_this": {
        "sv": "Använd BankID på den här enheten i stället",
        "en": "Use BankID on this device instead",
    },
    "bankid.use_computer": {
        "sv": "Använd BankID på den här datorn i stället",
        "en": "Use BankID on this computer instead",
    },
    "bankid.start": {"sv": "Fortsätt till BankID", "en": "Continue to BankID"},
    "bankid.cancel": {"sv": "Avbryt", "en": "Cancel"},
    "bankid.retry": {"sv": "Försök igen", "en": "Try again"},
    "bankid.noscript": {
        "sv": "Inloggning med BankID kräver JavaScript. Slå på JavaScript i webbläsaren och "
        "ladda om sidan.",
        "en": "Logging in with BankID needs JavaScript. Turn on JavaScript in your browser and "
        "reload this page.",
    },
    "bankid.offline": {
        "sv": "Ingen kontakt med servern just nu. Försöker igen …",
        "en": "No contact with the server right now. Trying again …",
    },
    "bankid.risk_denied": {
        "sv": "Inloggningen stoppades av säkerhetsskäl. Om någon har bett dig att logga in, "
        "avbryt. Kontakta annars tjänsten du vill logga in på.",
        "en": "The login was stopped for security reasons. If someone asked you to log in, "
        "cancel. Otherwise, contact the service you are logging in to.",
    },
    "bankid.visible_login": {
        "sv": "Inloggning till {client}",
        "en": "Log in to {client}",
    },
    "bankid.ip_mismatch": {
        "sv": "Inloggningen stoppades: BankID godkändes från en annan anslutning än den där "
        "inloggningen startades. Om någon har skickat en länk till dig, avbryt. Försök annars "
        "igen, utan VPN eller proxy.",
        "en": "The login was stopped: BankID was approved from another connection than the one "
        "the login started on. If someone sent you a link, cancel. Otherwise, try again without "
        "a VPN or proxy.",
    },
    "bankid.return_wait": {
        "sv": "Slutför i BankID-appen. Appen skickar dig sedan tillbaka hit.",
        "en": "Finish in the BankID app. The app then sends you back here.",
    },
    "bankid.return_refused": {
        "sv": "Länken från BankID-appen hör inte till den här webbläsaren eller inloggningen. "
        "Gå tillbaka till webbläsaren där du startade inloggningen.",
        "en": "The link from the BankID app does not belong to this browser or login. Go back "
        "to the browser where you started the login.",
    },
    # The BankID app's return landed in another browser than the one that started the login
    # (templates/bankid/returned.html), and what the starting browser's page then says.
    "bankid.return_title": {
        "sv": "Du har identifierat dig med BankID",
        "en": "You have identified yourself with BankID",
    },
    "bankid.return_started": {
        "sv": "Inloggningen startades i en annan webbläsare, men BankID-appen öppnade den här.",
        "en": "The login was started in another browser, but the BankID app opened this one.",
    },
    "bankid.return_started_named": {
        "sv": "Inloggningen startades i {browser}, men BankID-appen öppnade den här webbläsaren.",
        "en": "The login was started in {browser}, but the BankID app opened this browser.",
    },
    "bankid.return_continue": {
        "sv": "Fortsätt i den här webbläsaren",
        "en": "Continue in this browser",
    },
    "bankid.return_or_back": {
        "sv": "Vill du hellre fortsätta i den andra webbläsaren: gå tillbaka dit och börja om där.",
        "en": "If you would rather continue in the other browser, go back there and start again.",
    },
    "bankid.return_or_back_named": {
        "sv": "Vill du hellre fortsätta i {browser}: gå tillbaka dit och börja om där.",
        "en": "If you would rather continue in {browser}, go back there and start again.",
    },
    "bankid.return_fraud": {
        "sv": "Har någon annan bett dig att logga in eller skickat en länk till dig? Fortsätt "
        "inte, stäng sidan.",
        "en": "Did someone else ask you to log in or send you a link? Do not continue; close "
        "this page.",
    },
    "bankid.return_not_yet": {
        "sv": "BankID har inte bekräftat inloggningen ännu. Vänta några sekunder och tryck igen.",
        "en": "BankID has not confirmed the login yet. Wait a few seconds and press again.",
    },
    "bankid.return_elsewhere": {
        "sv": "Öppnade BankID-appen en annan webbläsare? Fortsätt där, eller börja om här.",
        "en": "Did the BankID app open another browser? Continue there, or start again here.",
    },
    "bankid.return_moved": {
        "sv": "Inloggningen fortsatte i en annan webbläsare. Du kan stänga den här fliken. Vill "
        "du logga in här i stället, gå tillbaka till tjänsten och börja om.",
        "en": "The login continued in another browser. You can close this tab. To log in here "
        "instead, go back to the service and start again.",
    },
    "bankid.expired": {
        "sv": "Inloggningen har gått ut eller startades i en annan webbläsare. Gå tillbaka till "
        "tjänsten du kom ifrån och försök igen.",
        "en": "The login has expired or was started in another browser. Go back to the service "
        "you came from and try again.",
    },
    # The login pages' flow: after the scan, the QR code's renewal, the same-device page
    # without script, anti-fraud advice and the help section.
    "bankid.confirm_heading": {
        "sv": "Bekräfta i BankID-appen",
        "en": "Confirm in the BankID app",
    },
    "bankid.qr_step1_other": {
        "sv": "Öppna BankID-appen på din andra enhet, till exempel en annan mobil eller en "
        "surfplatta.",
        "en": "Open the BankID app on your other device, such as another phone or a tablet.",
    },
    "bankid.qr_alt_other": {
        "sv": "QR-kod för inloggning med BankID. Öppna BankID-appen på din andra enhet, tryck på "
        "QR-ikonen och rikta kameran mot koden. Koden byts varje sekund.",
        "en": "QR code for logging in with BankID. Open the BankID app on your other device, tap "
        "the QR icon and point the camera at the code. The code changes every second.",
    },
    "bankid.qr_countdown": {
        "sv": "QR-koden gäller i {seconds} sekunder till.",
        "en": "The QR code is valid for {seconds} more seconds.",
    },
    "bankid.qr_renewing": {
        "sv": "Hämtar en ny QR-kod …",
        "en": "Getting a new QR code …",
    },
    "bankid.fraud_qr": {
        "sv": "Skanna bara en QR-kod som du själv har tagit fram här. Om någon har bett dig att "
        "logga in eller skanna en kod, till exempel i telefon, avbryt.",
        "en": "Only scan a QR code you brought up here yourself. If someone has asked you to log "
        "in or to scan a code, for example on the phone, cancel.",
    },
    "bankid.fraud_app": {
        "sv": "Logga bara in om du själv har valt att logga in här. Om någon har bett dig att "
        "logga in, till exempel i telefon, avbryt.",
        "en": "Only log in if you chose to log in here yourself. If someone has asked you to log "
        "in, for example on the phone, cancel.",
    },
    "bankid.noscript_same": {
        "sv": "Tryck på knappen för att öppna BankID-appen. Sidan uppdateras av sig själv. När "
        "du är klar i appen kan du också välja Fortsätt.",
        "en": "Tap the button to open the BankID app. This page updates itself. When you have "
        "finished in the app, you can also choose Continue.",
    },
    "bankid.continue": {"sv": "Jag är klar, fortsätt", "en": "I have finished, continue"},
    "bankid.help_title": {"sv": "Problem att logga in?", "en": "Trouble logging in?"},
    "bankid.help_get": {
        "sv": "Saknar du BankID? Du skaffar det hos din bank. Appen heter BankID säkerhetsapp "
        "och finns i App Store och Google Play.",
        "en": "No BankID? You get one from your bank. The app is called BankID Security App and "
        "is in the App Store and on Google Play.",
    },
    "bankid.help_check": {
        "sv": "Kontrollera att BankID-appen är uppdaterad och att datum och tid är rätt "
        "inställda på enheten. Starta sedan om appen och försök igen.",
        "en": "Check that the BankID app is up to date and that the date and time are set "
        "correctly on your device. Then restart the app and try again.",
    },
    "bankid.help_blocked": {
        "sv": "Om ditt BankID är spärrat eller har gått ut, kontakta din bank.",
        "en": "If your BankID is blocked or has expired, contact your bank.",
    },
    "bankid.help_support": {
        "sv": "BankID:s hjälp och support",
        "en": "BankID's help and support",
    },
    "bankid.help_support_url": {
        "sv": "https://www.bankid.com/privat/hjalp",
        "en": "https://www.bankid.com/en/privat/hjalp",
    },
    # Approvals (signing, payments): the summary page and the pages after it.
    "bankid.sign_title": {"sv": "Signera med BankID", "en": "Sign with BankID"},
    "bankid.pay_title": {"sv": "Godkänn med BankID", "en": "Approve with BankID"},
    "bankid.sign_to_client": {
        "sv": "{client} ber dig att signera det här.",
        "en": "{client} asks you to sign this.",
    },
    "bankid.pay_to_client": {
        "sv": "{client} ber dig att godkänna den här betalningen.",
        "en": "{client} asks you to approve this payment.",
    },
    "bankid.npa_to_client": {
        "sv": "{client} ber dig att godkänna det här.",
        "en": "{client} asks you to approve this.",
    },
    "approval.identify_first": {
        "sv": "Först identifierar du dig med BankID. Sedan visas det du ska godkänna.",
        "en": "First, identify yourself with BankID. Then you will see what to approve.",
    },
    "approval.what": {"sv": "Det här godkänner du", "en": "What you approve"},
    "approval.amount": {"sv": "Belopp", "en": "Amount"},
    "approval.recipient": {"sv": "Mottagare", "en": "Recipient"},
    "approval.hint": {
        "sv": "Läs igenom uppgifterna. Du godkänner sedan med din säkerhetskod i BankID-appen, "
        "som visar samma uppgifter. Om någon har bett dig att godkänna något du inte känner "
        "igen, avbryt.",
        "en": "Read the details. You then approve with your security code in the BankID app, "
        "which shows the same details. If someone asked you to approve something you do not "
        "recognise, cancel.",
    },
}

i18n.register(TEXTS)
