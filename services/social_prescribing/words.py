"""Social prescribing in words, Italian and English: so far what a refused questionnaire answer
says (`services.social_prescribing.wellbeing`), shown by the pages beside the item it names."""

WORDS: dict[str, tuple[str, str]] = {  # key: (italiano, English)
    "field.answers": ("Risposte", "Answers"),
    "error.int_type": ("deve essere un numero intero", "must be a whole number"),
    "error.unknown_item": ("domanda che il questionario non ha", "a question the questionnaire does not have"),
}
