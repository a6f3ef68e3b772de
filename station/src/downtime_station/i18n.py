"""The station's words in English, French and Dutch.

The station runs without Django, so it carries its own small catalogue:
``_("text")`` gives the text in the language the server's manifest named
(``set_language``). ``tests/station/test_station_i18n.py`` finds every
``_()`` in the package and fails while one lacks a translation.
"""

_LANGUAGE = ["en"]

CATALOGUE: dict[str, dict[str, str]] = {
    "Downtime packs on this ward station": {
        "fr": "Dossiers de secours sur ce poste d'unité",
        "nl": "Noodpakketten op dit afdelingsstation",
    },
    "Who are you?": {"fr": "Qui êtes-vous ?", "nl": "Wie bent u?"},
    "Your name, as you sign the ward's papers:": {
        "fr": "Votre nom, tel que vous signez les documents de l'unité :",
        "nl": "Uw naam, zoals u de papieren van de afdeling tekent:",
    },
    "Continue": {"fr": "Continuer", "nl": "Verder"},
    "Type your name: every file opened or printed is logged with it.": {
        "fr": "Tapez votre nom : chaque fichier ouvert ou imprimé est journalisé "
        "avec lui.",
        "nl": "Typ uw naam: elk geopend of afgedrukt bestand wordt ermee gelogd.",
    },
    "Signed in as %(name)s": {
        "fr": "Connecté comme %(name)s",
        "nl": "Aangemeld als %(name)s",
    },
    "Not you?": {"fr": "Pas vous ?", "nl": "Niet u?"},
    "Last sync with the server: %(time)s (%(age)s ago)": {
        "fr": "Dernière synchronisation avec le serveur : %(time)s (il y a %(age)s)",
        "nl": "Laatste synchronisatie met de server: %(time)s (%(age)s geleden)",
    },
    "Never synced with the server.": {
        "fr": "Jamais synchronisé avec le serveur.",
        "nl": "Nooit gesynchroniseerd met de server.",
    },
    "Last error: %(error)s": {
        "fr": "Dernière erreur : %(error)s",
        "nl": "Laatste fout: %(error)s",
    },
    "DOWNTIME declared": {"fr": "PANNE déclarée", "nl": "STORING afgekondigd"},
    "DRILL declared": {"fr": "EXERCICE déclaré", "nl": "OEFENING afgekondigd"},
    "Ward pack": {"fr": "Dossier d'unité", "nl": "Afdelingspakket"},
    "Clinic list of %(day)s": {
        "fr": "Liste de consultation du %(day)s",
        "nl": "Raadplegingslijst van %(day)s",
    },
    "Data as of %(time)s": {
        "fr": "Données au %(time)s",
        "nl": "Gegevens van %(time)s",
    },
    "%(age)s old": {"fr": "il y a %(age)s", "nl": "%(age)s oud"},
    "newest": {"fr": "la plus récente", "nl": "de nieuwste"},
    "older copy": {"fr": "copie plus ancienne", "nl": "oudere kopie"},
    "1 page": {"fr": "1 page", "nl": "1 pagina"},
    "%(count)s pages": {"fr": "%(count)s pages", "nl": "%(count)s pagina's"},
    "1 patient": {"fr": "1 patient", "nl": "1 patiënt"},
    "%(count)s patients": {"fr": "%(count)s patients", "nl": "%(count)s patiënten"},
    "Open": {"fr": "Ouvrir", "nl": "Openen"},
    "Print": {"fr": "Imprimer", "nl": "Afdrukken"},
    "Nothing is kept on this station yet.": {
        "fr": "Ce poste ne conserve encore rien.",
        "nl": "Dit station bewaart nog niets.",
    },
    "Refused: %(reason)s. Use another copy and tell IT.": {
        "fr": "Refusé : %(reason)s. Utilisez une autre copie et prévenez l'IT.",
        "nl": "Geweigerd: %(reason)s. Gebruik een andere kopie en verwittig IT.",
    },
    "Sent to the printer: %(title)s.": {
        "fr": "Envoyé à l'imprimante : %(title)s.",
        "nl": "Naar de printer gestuurd: %(title)s.",
    },
    "Printing failed: %(error)s": {
        "fr": "L'impression a échoué : %(error)s",
        "nl": "Afdrukken mislukt: %(error)s",
    },
    "This file cannot be opened": {
        "fr": "Ce fichier ne peut pas être ouvert",
        "nl": "Dit bestand kan niet worden geopend",
    },
    "Back to the list": {"fr": "Retour à la liste", "nl": "Terug naar de lijst"},
    "%(days)d d %(hours)d h": {
        "fr": "%(days)d j %(hours)d h",
        "nl": "%(days)d d %(hours)d u",
    },
    "%(hours)d h %(minutes)d min": {
        "fr": "%(hours)d h %(minutes)d min",
        "nl": "%(hours)d u %(minutes)d min",
    },
    "%(minutes)d min": {"fr": "%(minutes)d min", "nl": "%(minutes)d min"},
    "unverified": {"fr": "non vérifié", "nl": "niet geverifieerd"},
    "Blank forms": {"fr": "Formulaires vierges", "nl": "Blanco formulieren"},
    "Blank form": {"fr": "Formulaire vierge", "nl": "Blanco formulier"},
    "Label sheets": {"fr": "Planches d'étiquettes", "nl": "Etikettenvellen"},
    "Downtime numbers %(range)s": {
        "fr": "Numéros de panne %(range)s",
        "nl": "Storingsnummers %(range)s",
    },
}


def set_language(code: str) -> None:
    _LANGUAGE[0] = code if code in ("fr", "nl") else "en"


def language() -> str:
    return _LANGUAGE[0]


def _(text: str) -> str:
    if _LANGUAGE[0] == "en":
        return text
    return CATALOGUE.get(text, {}).get(_LANGUAGE[0], text)
