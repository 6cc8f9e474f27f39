"""Language identification: `detect_language`.

Rules, not a model: a dominant script and a few letters and function words decide, which is
cheap, deterministic and right on Persian typed with Arabic yeh and kaf and on short headlines.
"""

from __future__ import annotations

import re
import unicodedata

from embed.chars import _DIACRITICS, _INVISIBLE, TATWEEL, ZWNJ

# --------------------------------------------------------------------------------------------
# Language identification
# --------------------------------------------------------------------------------------------

# Scripts that name one language well enough (cheap and reliable); ranges are inclusive.
_SCRIPT_RANGES: list[tuple[int, int, str]] = [
    (0x0600, 0x06FF, "arab"),
    (0x0750, 0x077F, "arab"),
    (0x08A0, 0x08FF, "arab"),
    (0xFB50, 0xFDFF, "arab"),
    (0xFE70, 0xFEFF, "arab"),
    (0x0041, 0x005A, "latn"),
    (0x0061, 0x007A, "latn"),
    (0x00C0, 0x024F, "latn"),
    (0x1E00, 0x1EFF, "latn"),
    (0x0370, 0x03FF, "el"),
    (0x1F00, 0x1FFF, "el"),
    (0x0400, 0x052F, "cyrl"),
    (0x0590, 0x05FF, "he"),
    (0x0530, 0x058F, "hy"),
    (0x10A0, 0x10FF, "ka"),
    (0x0E00, 0x0E7F, "th"),
    (0x0900, 0x097F, "hi"),
    (0x0980, 0x09FF, "bn"),
    (0x0B80, 0x0BFF, "ta"),
    (0xAC00, 0xD7AF, "ko"),
    (0x1100, 0x11FF, "ko"),
    (0x3040, 0x30FF, "kana"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
]

_URLISH = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\S+|@\w+")
# Arabic-script letters only (no punctuation or digits); presentation forms are NFKC'd first.
_AR_WORD = re.compile(
    r"[\u0621-\u063a\u0641-\u064a\u066e-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06fc\u06ff"
    r"\u0750-\u077f\u08a0-\u08ff]+"
)
_LATIN_WORD = re.compile(r"[^\W\d_]+")

_FA_LETTERS = set("\u067e\u0686\u0698\u06af")  # پ چ ژ گ: not in Arabic
_FA_FORMS = set("\u06cc\u06a9")  # ی ک: Persian codepoints (Arabic uses ي ك)
_UR_LETTERS = set("\u0679\u0688\u0691\u06ba\u06d2\u06d3\u06c1\u06be")  # ٹ ڈ ڑ ں ے ۓ ہ ھ
_PS_LETTERS = set("\u067c\u0689\u0693\u0696\u069a\u06ab\u06bc\u06cd\u06d0")  # ټ ډ ړ ږ ښ ګ ڼ ۍ ې
_KU_LETTERS = set("\u0695\u06b5\u06ce\u06c6")  # ڕ ڵ ێ ۆ (Sorani)

# Frequent Persian function words, compared after mapping Arabic yeh/kaf to the Persian forms
# (Persian scrapes are often typed with an Arabic keyboard layout). "به" is left out: it is
# also a frequent Arabic word ("به" = with it).
_FA_WORDS = frozenset(
    "است این را می که در از با برای شد شده کرد کرده های ها آن یک تا بود نیز خود دارد کند "
    "گفت اند اما پس باید بر هر شود وی دو روز میان آنها ایران نمی هستند بوده کنند کنیم داد "
    "شدند نیست چه همچنین خواهد شما تو مرا نه هنوز هستم باشد داشت بودند اگر ولی چون "
    "یافت درصد کشور هزار میلیون رو اون یه بهش بهت هست خیلی چی".split()
)
# Frequent Arabic function words, compared on the raw token with ی/ک mapped to ي/ك. Alef
# maksura stays distinct, so Persian "علی" (Ali) never counts as Arabic "على".
_AR_WORDS = frozenset(
    "في فى على إلى الى عن أن إن التي الذي الذين هذا هذه ذلك تلك كان كانت قد لم لن لا "
    "مع بعد قبل حيث كما أو هو هي وقال قال وفي ومن وأن أنه إنه عليه فيه منذ خلال حول ضد عند "
    "حتى ثم غير أي اليوم يوم وذلك لكن إلا بن بأن وكان إنها أنها له لها عام".split()
)
# Also Persian words ("من" = I, "ان" = a careless "آن"), so they count for half.
_AR_WEAK_WORDS = frozenset({"من", "ان"})
_AR_PREFIXES = ("ال", "وال", "بال", "فال", "كال", "لل")

_LATIN_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the of and to in is was for on that with as by at from it he she his her they this "
        "be are were has have had not but an which said will would who their been its more "
        "than after about".split()
    ),
    "fr": frozenset(
        "le la les des du de et est une un dans pour que qui sur au aux pas par avec ce cette "
        "sont ont été il elle selon".split()
    ),
    "de": frozenset(
        "der die das und ist nicht mit den dem ein eine auch sich auf für von zu im wird sind "
        "bei nach wie oder aus".split()
    ),
    "es": frozenset(
        "el la los las de del y que en un una por para con es se no su al lo como más fue "
        "sobre según".split()
    ),
    "it": frozenset(
        "il lo la gli le di del della che e è un una per con non sono nel alla dei anche "
        "come più".split()
    ),
    "pt": frozenset(
        "o a os as de do da dos das e que em um uma para com não no na por se ao foi mais "
        "também segundo".split()
    ),
    "nl": frozenset(
        "de het een en van in is dat op te zijn met voor niet aan er ook als bij door".split()
    ),
    "tr": frozenset(
        "ve bir bu da de ile için olarak olan daha çok gibi ama en ancak sonra".split()
    ),
}


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        cp = ord(ch)
        for lo, hi, name in _SCRIPT_RANGES:
            if lo <= cp <= hi:
                counts[name] = counts.get(name, 0) + 1
                break
        else:
            counts["other"] = counts.get("other", 0) + 1
    return counts


def _arabic_script_language(text: str) -> str:
    """Persian, Arabic (or Urdu, Pashto, Kurdish) for text written in Arabic script."""
    letters = [ch for ch in text if "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f"]
    n = max(len(letters), 1)
    for code, marks in (("ur", _UR_LETTERS), ("ps", _PS_LETTERS), ("ku", _KU_LETTERS)):
        hits = sum(ch in marks for ch in letters)
        if hits >= 3 and hits / n >= 0.02:
            return code

    tokens = _AR_WORD.findall(unicodedata.normalize("NFKC", text).translate(_NORM_DIACRITICS))
    # ZWNJ is a Persian writing habit; Arabic text has no use for it.
    fa = 0.5 * min(text.count(ZWNJ), len(tokens))
    ar = 0.0
    for tok in tokens:
        fa_tok = tok.replace("\u064a", "\u06cc").replace("\u0643", "\u06a9")
        ar_tok = tok.replace("\u06cc", "\u064a").replace("\u06a9", "\u0643")
        if fa_tok in _FA_WORDS:
            fa += 1.0
        if ar_tok in _AR_WORDS:
            ar += 1.0
        elif ar_tok in _AR_WEAK_WORDS:
            ar += 0.5
        if any(ch in _FA_LETTERS for ch in tok):
            fa += 1.0
        if any(ch in _FA_FORMS for ch in tok):
            fa += 0.5
        if fa_tok.startswith(("می", "نمی")) and len(fa_tok) >= 5 and fa_tok[-1] in "دمه":
            fa += 0.5  # verb with the Persian durative prefix, ZWNJ lost: میشود، میکنم
        if "\u0629" in tok:  # ة
            ar += 1.0
        if tok.endswith("\u0649") or "\u0623" in tok or "\u0625" in tok:  # ى أ إ
            ar += 0.5
        if len(tok) > 3 and ar_tok.startswith(_AR_PREFIXES):
            ar += 0.75
    if fa == ar:
        # No evidence either way: Persian codepoints are the last hint.
        return "fa" if any(ch in _FA_FORMS for ch in letters) else "ar"
    return "fa" if fa > ar else "ar"


def _latin_language(text: str) -> str:
    words = [w.casefold() for w in _LATIN_WORD.findall(text)]
    scores = {code: sum(w in stop for w in words) for code, stop in _LATIN_STOPWORDS.items()}
    if "ə" in text.casefold():
        return "az"
    best = max(scores, key=lambda c: scores[c])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] >= 2 and ranked[0] > ranked[1]:
        return best
    if ranked[0] == 0 or best == "en" or scores["en"] == ranked[0]:
        # Headline style often has no function word at all ("Trump Signs Order"); an
        # ASCII-only text is then most likely English. Anything else stays unknown.
        return "en" if all(ord(ch) < 128 for ch in "".join(words)) else "other"
    return "other"


def _latin_is_prose(text: str) -> bool:
    words = [w.casefold() for w in _LATIN_WORD.findall(text)]
    return max(sum(w in stop for w in words) for stop in _LATIN_STOPWORDS.values()) >= 2


_NORM_DIACRITICS = {ord(c): None for c in _DIACRITICS + TATWEEL + _INVISIBLE.replace(ZWNJ, "")}
_NORM_DIACRITICS[ord(ZWNJ)] = " "


def detect_language(text: str) -> str:
    """ISO 639-1 code: "fa", "ar", "en", a few others where the script says it, else "other".

    Rules, not a model: the dominant script decides first; Persian vs Arabic is weighed from
    letters only one of them uses and from very frequent function words, so that Persian typed
    with Arabic yeh and kaf and eight-word headlines still come out right.
    """
    s = _URLISH.sub(" ", text).replace("#", " ").replace("_", " ")
    counts = _script_counts(s)
    if not counts:
        return "other"
    script = max(counts, key=lambda k: counts[k])
    if script == "latn" and counts.get("arab", 0) >= 0.25 * sum(counts.values()):
        # Persian or Arabic with embedded Latin names: trust Latin only if it reads as prose.
        latin = _latin_language(s)
        if latin == "other" or not _latin_is_prose(s):
            return _arabic_script_language(s)
        return latin
    if script == "arab":
        return _arabic_script_language(s)
    if script == "latn":
        return _latin_language(s)
    if script == "cyrl":
        low = s.casefold()
        if any(ch in low for ch in "іїєґ"):
            return "uk"
        if any(ch in low for ch in "ђћџљњј"):
            return "sr"
        return "ru"
    if script == "kana":
        return "ja"
    if script == "han":
        return "ja" if counts.get("kana", 0) else "zh"
    if script == "other":
        return "other"
    return script
