"""Text -> features: the one analyzer shared by training, the sklearn pipeline and the fast scorer.

A pickled pipeline refers to :func:`analyze` by name, so its behaviour is part of every shipped
model: change it only together with :data:`FEATURES_VERSION` (the loader refuses a model whose
manifest names another version) and a retrained model.

Design, chosen by cross-validation on the SMS and Enron corpora (see ``models/MODEL_CARD.md``):

* every text first goes through :func:`inmail_guard.textnorm.model_text`, the normaliser the
  keywords detector shares: NFKC, invisible and bidi characters deleted, look-alike letters of
  other scripts read as ASCII, spaced letters joined, l33t undone inside mixed words. Training
  and scoring both tokenise through here, so they always agree;

* a normaliser collapses what spam varies and ham does not: URLs (also Enron's tokenised
  ``http : / / www . x . com``), currency amounts, long digit runs (phone numbers, short codes),
  other numbers;
* word unigrams and bigrams, plus ``!``, ``?`` and currency signs as tokens;
* every feature twice: once shared, once tagged with the *channel* (``e:`` for e-mail-like text
  that starts with a ``Subject:`` line, ``s:`` for short messages, ``n:`` for InMails built by
  :func:`inmail_text`), so one linear model can learn channel-specific weights on top of the
  shared ones ("frustratingly easy domain adaptation",
  Daumé III 2007). Without it, training on both corpora cost the e-mail corpus about 5 points
  of F1 at the shared threshold (0.92 instead of 0.975 in cross-validation);
* a constant token per document, so the channel copy of it acts as a per-channel offset.

InMails have two channels of their own, by length: ``n:`` (at most
:data:`LONG_INMAIL_WORDS` words) and ``m:`` (longer: the shape of an e-mail). A model trained
with ``--inmail-form`` (the shipped one) sees every training row as the InMail it would be
(``models/inmail.py``), so both channels have weights of their own and a threshold each; SMS
rows mostly train ``n:``, e-mails mostly ``m:``, and the labelled InMail corpus both.

Word features keep the per-message scorer in pure Python fast (see ``scorer.py``): an InMail
costs one lookup per word and bigram.

E-mail has a route of its own (:func:`analyze_email`): the same word features plus character
2-6-grams of the lower-cased words (``e:#`` tagged), which catch what e-mail spam does to dodge
word filters ("he rbv i agr a", "lub . ricant", random word salad). They cost ~10x more
lookups, so only the e-mail route pays them; InMail and short messages never do. A model keeps
one pipeline per route (``artifact.SpamModel``).
"""

from __future__ import annotations

import re
from itertools import pairwise

from inmail_guard.textnorm import model_text

FEATURES_VERSION = "inmail-guard-words/7"

EMAIL_PREFIX = "e:"
SHORT_PREFIX = "s:"
INMAIL_PREFIX = "n:"
#: A long InMail (more than :data:`LONG_INMAIL_WORDS` words): the shape of an e-mail.
LONG_INMAIL_PREFIX = "m:"
CHANNEL_PREFIXES = (EMAIL_PREFIX, SHORT_PREFIX, INMAIL_PREFIX, LONG_INMAIL_PREFIX)
INMAIL_PREFIXES = (INMAIL_PREFIX, LONG_INMAIL_PREFIX)
#: Where an InMail stops being short: words (counted as spaces, which is cheap) of the subject
#: line and body. Chosen by end-to-end cross-validation (see ``MODEL_CARD.md``).
LONG_INMAIL_WORDS = 100
#: How :func:`inmail_text` starts an InMail, so that :func:`channel_prefix` knows it.
INMAIL_HEADER = "InMail-Subject:"
DOC_TOKEN = "xdoc"
#: Tag of the e-mail route's character n-grams (after the channel prefix ``e:``).
CHAR_TAG = "#"
CHAR_NGRAMS = (2, 6)

_SUBJECT = re.compile(r"\s*subject\s*:", re.IGNORECASE)
# URLs, also Enron's tokenised "http : / / www . x . com". Each regex runs only when a cheap
# substring test says it can match: scanning every position with them was most of the cost.
_SCHEME_URL = re.compile(r"(?:https?\s?:\s?/\s?/|www\s?\.)\S*")
_TLD = re.compile(r"\.(?:com|net|org|biz|info|uk)\b")
_DOMAIN = re.compile(r"\b[a-z0-9-]+\.(?:com|net|org|biz|info|co\.uk|uk)\b")
# Tokens are runs of [a-z0-9_] after lower-casing: everything else (punctuation, non-ASCII) is a
# separator, apostrophes are dropped ("don't" -> "dont"), and ! ? and currency signs become
# tokens of their own. Done with str.replace, bytes.translate and split (all in C): a regex
# findall over the text cost three times as much.
_SPLIT_OFF = (("!", " ! "), ("?", " ? "), ("$", " xcur "), ("£", " xcur "), ("€", " xcur "))
_KEEP = b"abcdefghijklmnopqrstuvwxyz0123456789_!?"
_SEPARATORS = bytes(b if b in _KEEP else 32 for b in range(256))
_DIGITS = b"0123456789"


def channel_prefix(text: str) -> str:
    """``n:`` for :func:`inmail_text` output (``m:`` when it is long: more than
    :data:`LONG_INMAIL_WORDS` words), ``e:`` for text that starts with a Subject: line
    (e-mail), else ``s:`` (short message)."""
    if text.startswith(INMAIL_HEADER):
        return LONG_INMAIL_PREFIX if text.count(" ") > LONG_INMAIL_WORDS else INMAIL_PREFIX
    return EMAIL_PREFIX if _SUBJECT.match(text) else SHORT_PREFIX


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of :func:`~inmail_guard.textnorm.model_text` (look-alikes read
    as ASCII, invisible characters gone, l33t and spaced letters undone), with URLs, currency
    signs and all-digit numbers as placeholder words (``xurl``, ``xcur``, ``xnum``,
    ``xlongnum`` for 5+ digits: phone numbers, codes)."""
    if text.startswith(INMAIL_HEADER):  # a marker for channel_prefix, not content
        text = text[len(INMAIL_HEADER):]
    text = model_text(text).lower()
    if "http" in text or "www" in text:
        text = _SCHEME_URL.sub(" xurl ", text)
    if _TLD.search(text):
        text = _DOMAIN.sub(" xurl ", text)
    for sign, spaced in _SPLIT_OFF:
        if sign in text:
            text = text.replace(sign, spaced)
    raw = text.encode("ascii", "ignore").translate(_SEPARATORS, b"'")
    words = raw.decode("ascii").split()
    if len(raw.translate(None, _DIGITS)) != len(raw):  # has a digit (4x cheaper than 10 `in`)
        return [("xlongnum" if len(w) >= 5 else "xnum") if w.isdigit() else w for w in words]
    return words


def base_features(text: str) -> list[str]:
    """Unigrams, bigrams and the document token, before the channel copies."""
    words = tokens(text)
    features = words + list(map(" ".join, pairwise(words)))
    features.append(DOC_TOKEN)
    return features


def feature_keys(text: str) -> list[str | tuple[str, str]]:
    """:func:`base_features` as the compiled scorer looks them up: bigrams as ``(w1, w2)``
    tuples, which :func:`itertools.pairwise` yields ready-made, instead of joined strings."""
    words = tokens(text)
    keys: list[str | tuple[str, str]] = [*words, *pairwise(words)]
    keys.append(DOC_TOKEN)
    return keys


def email_feature_keys(text: str) -> list[str | tuple[str, str]]:
    """:func:`feature_keys`, plus ``#``-tagged :func:`char_grams` for e-mail text: the keys of
    the e-mail route's compiled tables (its ``e:#`` features without the channel prefix)."""
    keys = feature_keys(text)
    if channel_prefix(text) == EMAIL_PREFIX:
        keys += [CHAR_TAG + g for g in char_grams(text)]
    return keys


def analyze(text: str) -> list[str]:
    """The analyzer given to ``TfidfVectorizer(analyzer=analyze)``: shared + channel features."""
    features = base_features(text)
    prefix = channel_prefix(text)
    return features + [prefix + f for f in features]


def inmail_text(subject: str, body: str) -> str:
    """How an InMail is presented to a model: an ``InMail-Subject:`` line, then the body."""
    return f"{INMAIL_HEADER} {subject}\n{body}"


def char_grams(text: str) -> list[str]:
    """Character 2-6-grams of each lower-cased whitespace-separated word, padded with a space on
    both sides (sklearn's ``char_wb``): ``"ab"`` -> ``" a", "ab", "b ", " ab", "ab ", " ab "``."""
    lo, hi = CHAR_NGRAMS
    out: list[str] = []
    extend = out.extend
    for word in model_text(text).lower().split():
        w = f" {word} "
        size = len(w)
        for n in range(lo, min(hi, size) + 1):
            extend([w[i:i + n] for i in range(size - n + 1)])
    return out


def analyze_email(text: str) -> list[str]:
    """The e-mail route's analyzer: :func:`analyze`, plus ``e:#``-tagged character n-grams
    when ``text`` is e-mail (the route only ever sees e-mail; other text gets :func:`analyze`)."""
    features = analyze(text)
    if channel_prefix(text) == EMAIL_PREFIX:
        tag = EMAIL_PREFIX + CHAR_TAG
        features += [tag + g for g in char_grams(text)]
    return features
