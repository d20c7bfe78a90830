"""BankID's recommended user messages (RFA), in Swedish and English.

Wording as on developers.bankid.com, captured in reference section 7.1, with BankID's own
typos corrected (RFA15B "gitligt", RFA23 "you ID document"); the RFA numbers are BankID's.
Which message applies when is decided in `idp.bankid.messages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RFA(StrEnum):
    RFA1 = "RFA1"
    RFA2 = "RFA2"
    RFA3 = "RFA3"
    RFA4 = "RFA4"
    RFA5 = "RFA5"
    RFA6 = "RFA6"
    RFA8 = "RFA8"
    RFA9 = "RFA9"
    RFA13 = "RFA13"
    RFA15A = "RFA15A"
    RFA15B = "RFA15B"
    RFA16 = "RFA16"
    RFA17A = "RFA17A"
    RFA17B = "RFA17B"
    RFA19 = "RFA19"
    RFA20 = "RFA20"
    RFA21 = "RFA21"
    RFA22 = "RFA22"
    RFA23 = "RFA23"


@dataclass(frozen=True)
class Message:
    rfa_id: RFA
    sv: str
    en: str

    def text(self, lang: str) -> str:
        """The text in `lang` ("sv" or "en"); anything else gets Swedish, BankID's default."""
        return self.en if lang == "en" else self.sv


_TEXTS: dict[RFA, tuple[str, str]] = {
    RFA.RFA1: ("Starta BankID-appen.", "Start your BankID app."),
    RFA.RFA2: (
        "Du verkar inte ha BankID-appen. Installera den och skaffa ett BankID.",
        "You don't seem to have the BankID app. Install the app and get a BankID.",
    ),
    RFA.RFA3: ("Åtgärden avbröts. Försök igen.", "The action was cancelled. Please try again."),
    RFA.RFA4: (
        "En identifiering eller underskrift pågår redan för ditt personnummer. Försök igen.",
        "An identification or signature is already in progress for your personal identity "
        "number. Please try again.",
    ),
    RFA.RFA5: ("Något gick fel. Försök igen.", "Something went wrong. Please try again."),
    RFA.RFA6: ("Åtgärden avbröts.", "The action was cancelled."),
    RFA.RFA8: (
        "BankID-appen svarar inte. Kontrollera att den är startad och att du har "
        "internetanslutning. Försök sedan igen.",
        "The BankID app is not responding. Please check that it's started and that you have "
        "internet access. Try again.",
    ),
    RFA.RFA9: (
        "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under.",
        "Enter your security code in the BankID app and select Identify or Sign.",
    ),
    RFA.RFA13: ("Försöker starta BankID-appen.", "Trying to start your BankID app."),
    RFA.RFA15A: (
        "Söker efter BankID. Säkerställ att du har ett giltigt BankID på den här datorn. Om du "
        "har ett BankID på kort, sätt in kortet i kortläsaren.",
        "Searching for BankID. Make sure you have a valid BankID on this computer. If you have "
        "a BankID on card, please insert the card into your card reader.",
    ),
    RFA.RFA15B: (
        "Söker efter BankID. Säkerställ att du har ett giltigt BankID på den här enheten.",
        "Searching for BankID. Make sure you have a valid BankID on this device.",
    ),
    RFA.RFA16: (
        "Ditt BankID är för gammalt eller spärrat. Använd ett annat BankID eller skaffa ett nytt "
        "hos din bank.",
        "Your BankID is blocked or too old. Please use another BankID or get a new one from "
        "your bank.",
    ),
    RFA.RFA17A: (
        "Du verkar inte ha BankID-appen/programmet. Installera den och skaffa ett BankID hos din "
        "bank.",
        "You don't seem to have the BankID app/program. Please install it and get a BankID from "
        "your bank.",
    ),
    RFA.RFA17B: (
        "Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden.",
        "Failed to scan the QR code. Start the BankID app and scan the QR code.",
    ),
    RFA.RFA19: (
        "Vill du använda BankID på den här datorn eller ett Mobilt BankID?",
        "Would you like to use BankID on this computer, or a Mobile BankID?",
    ),
    RFA.RFA20: (
        "Vill du använda BankID på den här enheten eller på en annan enhet?",
        "Do you want to use BankID on this device or another device?",
    ),
    RFA.RFA21: (
        "En identifiering eller underskrift pågår.",
        "An identification or signing is in progress.",
    ),
    RFA.RFA22: ("Något gick fel. Försök igen.", "Something went wrong. Please try again."),
    RFA.RFA23: (
        "Fotografera och läs av din ID-handling med BankID-appen.",
        "Take a photo of, and scan, your ID document with the BankID app.",
    ),
}

MESSAGES: dict[RFA, Message] = {rfa: Message(rfa, sv, en) for rfa, (sv, en) in _TEXTS.items()}


def message(rfa: RFA) -> Message:
    return MESSAGES[rfa]
