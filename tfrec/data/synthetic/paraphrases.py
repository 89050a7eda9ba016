"""Query words that titles do not use: the shop's vocabulary-mismatch option.

Real shoppers often describe what they want in other words than the catalog does ("for him"
for "Men's", "eu 44" for "Size 10", "wicker" for "Rattan", "sneakers" for "Running Shoes"), so a
query can share few or no words with the titles of the items it is after. With
`SyntheticConfig.query_vocab_mismatch = m`, each word group of a search query (its noun and each
attribute value) is, with probability m, written with such words: the noun as one of the leaf's
synonyms (`Leaf.synonyms`), preferring those that share no word with the leaf's title nouns, and
an attribute value as one of its `ATTRIBUTE_PARAPHRASES` (values without one keep their usual
form). Brands are typed as they are. The intent behind the query, the judgments and the clicks do
not change: only the words do.

The draws come from their own random stream (`simulate_block` seeds it with
`[seed, 7, block]`), so with m = 0 no draw is made and the shop is byte-identical to a shop
generated without the option.

Example:
    >>> from tfrec.data.synthetic.paraphrases import paraphrase_forms
    >>> paraphrase_forms("Navy Blue")
    ('midnight', 'deep indigo')
"""

from __future__ import annotations

import re

from tfrec.data.synthetic.taxonomy import Leaf

# attribute value (as titles write it) -> ways people type it with other words
ATTRIBUTE_PARAPHRASES: dict[str, tuple[str, ...]] = {
    # gender, colour, sizes
    "Men's": ("male", "for him", "guys"),
    "Women's": ("female", "for her", "ladies"),
    "Black": ("jet", "onyx", "dark"),
    "White": ("ivory", "snow", "cream"),
    "Navy Blue": ("midnight", "deep indigo"),
    "Grey": ("gray", "charcoal", "slate"),
    "Red": ("scarlet", "crimson"),
    "Olive Green": ("khaki", "moss", "army"),
    "Beige": ("tan", "sand", "nude"),
    "Pink": ("rose", "blush"),
    "Sky Blue": ("aqua", "pale azure"),
    "Burgundy": ("maroon", "oxblood", "wine"),
    "Size 6": ("eu 39", "uk6"),
    "Size 7": ("eu 40", "uk7"),
    "Size 8": ("eu 42", "uk8"),
    "Size 9": ("eu 43", "uk9"),
    "Size 10": ("eu 44", "uk10"),
    "Size 11": ("eu 45", "uk11"),
    "Size 12": ("eu 46", "uk12"),
    "Size S": ("small",),
    "Size M": ("medium",),
    "Size L": ("large",),
    "Size XL": ("extra large",),
    "Size XXL": ("2xl", "extra extra large"),
    # electronics
    "Wireless": ("cordless", "cable free"),
    "Wired": ("corded", "with cable"),
    "Noise Cancelling": ("anc", "quiet"),
    "10W": ("10 watt",),
    "20W": ("20 watt",),
    "30W": ("30 watt",),
    "40W": ("40 watt",),
    "60W": ("60 watt",),
    "65W": ("65 watt",),
    "100W": ("100 watt",),
    "2.0 Channel": ("stereo",),
    "2.1 Channel": ("with subwoofer",),
    "3.1 Channel": ("centre speaker",),
    "5.1 Channel": ("surround sound", "home cinema"),
    "for iPhone 15": ("iphone15", "apple 15"),
    "for iPhone 14": ("iphone14", "apple 14"),
    "for Galaxy S24": ("samsung s24", "s24"),
    "for Pixel 8": ("pixel8", "google 8"),
    "Silicone": ("rubber", "soft"),
    "Leather": ("pu", "hide"),
    "Clear": ("transparent", "see through"),
    "Rugged": ("tough", "armor", "heavy duty"),
    "5000mAh": ("5k mah", "5000 mah"),
    "10000mAh": ("10k mah", "10000 mah"),
    "20000mAh": ("20k mah", "20000 mah"),
    "26800mAh": ("26800 mah", "27k"),
    "13 inch": ("13in", "13 screen"),
    "14 inch": ("14in",),
    "15.6 inch": ("15in", "156"),
    "17 inch": ("17in",),
    "256GB SSD": ("256gb", "256 gig"),
    "512GB SSD": ("512gb", "half terabyte"),
    "1TB SSD": ("1 terabyte", "1tb"),
    "Full Size": ("104 key", "with numpad"),
    "Tenkeyless": ("tkl", "87 key"),
    "60%": ("sixty percent", "mini"),
    "24 inch": ("24in",),
    "27 inch": ("27in",),
    "32 inch": ("32in",),
    "34 inch Ultrawide": ("34in", "21:9"),
    "1080p": ("full hd", "fhd"),
    "1440p": ("qhd", "2k"),
    "4K": ("uhd", "ultra hd"),
    # home and kitchen
    "20 cm": ("20cm", "8in"),
    "24 cm": ("24cm", "9in"),
    "28 cm": ("28cm", "11in"),
    "30 cm": ("30cm", "12in"),
    "Cast Iron": ("castiron", "seasoned"),
    "Stainless Steel": ("inox", "18/10"),
    "Non-Stick Aluminium": ("teflon", "nonstick"),
    "Carbon Steel": ("wok", "blued"),
    "Ceramic": ("porcelain", "pfas free"),
    "1 L": ("1 litre", "1l"),
    "1.5 L": ("1.5 litre", "1.5l"),
    "1.7 L": ("1.7 litre", "1.7l"),
    "2.5 L": ("2.5 litre", "2.5l"),
    "4 L": ("4 litre", "4l"),
    "5.5 L": ("5.5 litre", "5.5l"),
    "Single Serve": ("one cup", "pod"),
    "10 Cup": ("ten serving",),
    "12 Cup": ("twelve serving", "big pot"),
    "600W": ("600 watt",),
    "1000W": ("1000 watt",),
    "1500W": ("1500 watt",),
    "2200W": ("2200 watt",),
    "Twin": ("single",),
    "Full": ("double",),
    "Queen": ("5ft",),
    "King": ("6ft", "super size"),
    "Egyptian Cotton": ("percale", "sateen"),
    "Linen": ("flax",),
    "Bamboo": ("viscose",),
    "Microfiber": ("polyester", "microfibre"),
    "Soft": ("plush",),
    "Medium Firm": ("mid firmness",),
    "Firm": ("hard", "supportive"),
    # sports, outdoors
    "4 mm": ("4mm",),
    "6 mm": ("6mm",),
    "10 mm": ("1cm", "10mm"),
    "2 kg": ("2kg", "4lb"),
    "5 kg": ("5kg", "11lb"),
    "10 kg": ("10kg", "22lb"),
    "20 kg": ("20kg", "44lb"),
    "Light": ("easy", "beginner"),
    "Medium": ("moderate", "mid size"),
    "Heavy": ("strong",),
    "Extra Heavy": ("very strong", "xheavy"),
    "2-Person": ("two man", "2 man"),
    "4-Person": ("four man", "family size"),
    "6-Person": ("six man", "6 man"),
    "Summer": ("warm weather",),
    "3-Season": ("spring to autumn",),
    "Winter": ("cold weather", "4 season"),
    "400 Lumen": ("400lm",),
    "800 Lumen": ("800lm",),
    "1200 Lumen": ("1200lm",),
    # beauty
    "for Dry Skin": ("flaky", "parched"),
    "for Oily Skin": ("greasy", "acne prone"),
    "for Sensitive Skin": ("reactive", "eczema"),
    "for Combination Skin": ("t zone",),
    "SPF 30": ("factor 30",),
    "SPF 50": ("factor 50",),
    "SPF 50+": ("factor 50 plus",),
    "50 ml": ("50ml",),
    "100 ml": ("100ml",),
    "200 ml": ("200ml",),
    "400 ml": ("400ml",),
    "for Curly Hair": ("wavy", "coily"),
    "for Dry Hair": ("damaged", "frizzy"),
    "for Oily Hair": ("greasy roots",),
    "for Fine Hair": ("thin", "flat"),
    "Floral": ("rose", "flowery"),
    "Woody": ("sandalwood", "cedar"),
    "Citrus": ("lemon", "orange"),
    "Fresh Aquatic": ("ocean", "marine"),
    # toys
    "Ages 3+": ("toddler", "3 year old"),
    "Ages 6+": ("6 year old",),
    "Ages 8+": ("8 year old",),
    "Ages 12+": ("teen", "tween"),
    "250-Piece": ("250pcs",),
    "500-Piece": ("500pcs",),
    "1000-Piece": ("1000pcs",),
    "2000-Piece": ("2000pcs",),
    "Landscape": ("scenery", "nature"),
    "Animal": ("wildlife",),
    "World Map": ("atlas", "geography"),
    "Space": ("galaxy", "planets"),
    "2-4 Players": ("up to 4",),
    "2-6 Players": ("group", "up to 6"),
    "1-5 Players": ("solo",),
    "Bunny": ("rabbit",),
    "Dinosaur": ("dino", "t rex"),
    "50 cm": ("giant", "big"),
    # garden, pets, office, car
    "Bypass": ("scissor action",),
    "Anvil": ("dead wood",),
    "Ratchet": ("ratcheting",),
    "15 m": ("50ft",),
    "25 m": ("80ft",),
    "30 m": ("100ft",),
    "50 m": ("150ft",),
    "Cordless": ("battery", "battery powered"),
    "Electric": ("corded", "mains"),
    "Petrol": ("gas", "gas powered"),
    "33 cm": ("13in",),
    "40 cm": ("16in",),
    "46 cm": ("18in",),
    "Teak": ("hardwood", "wooden"),
    "Aluminium": ("aluminum", "metal"),
    "Rattan": ("wicker",),
    "Steel": ("iron", "metal"),
    "Small": ("toy breed", "puppy"),
    "Large": ("big dog",),
    "Extra Large": ("giant breed",),
    "Chicken": ("poultry",),
    "Lamb & Rice": ("mutton",),
    "Salmon": ("fish",),
    "Beef": ("red meat",),
    "6 kg": ("6kg", "13lb"),
    "12 kg": ("12kg", "26lb"),
    "1.2 m": ("4ft",),
    "1.8 m": ("6ft",),
    "5 m Retractable": ("extendable", "16ft"),
    "Clumping": ("scoopable",),
    "Clay": ("bentonite",),
    "Silica": ("crystal",),
    "Pine": ("wood pellets",),
    "80 cm": ("short", "small"),
    "120 cm": ("medium height",),
    "160 cm": ("tall",),
    "Lined": ("ruled",),
    "Dotted": ("dot grid", "bullet journal"),
    "Blank": ("plain", "unlined"),
    "Grid": ("squared", "graph"),
    "Pack of 10": ("10pk",),
    "Pack of 20": ("20pk",),
    "Pack of 36": ("36pk", "bulk"),
    "Mesh": ("breathable",),
    "Fabric": ("upholstered", "cloth"),
    "100 cm": ("40in",),
    "140 cm": ("55in",),
    "Magnetic": ("magsafe", "magnet"),
    "Vent Clip": ("air grille",),
    "Dashboard Suction": ("windshield", "sticky pad"),
    "12V Plug-In": ("cigarette lighter", "car socket"),
}

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def paraphrase_forms(value: str) -> tuple[str, ...]:
    """The other-words forms of an attribute value (empty when it has none).

    Args:
        value: str. The value as titles write it, e.g. "Navy Blue".

    Returns:
        tuple[str, ...]: lower-case query forms that do not repeat the title's words.

    Example:
        >>> paraphrase_forms("Rattan")
        ('wicker',)
    """
    return ATTRIBUTE_PARAPHRASES.get(value, ())


def mismatched_synonyms(leaf: Leaf) -> tuple[str, ...]:
    """The leaf's synonyms that share no word with its title nouns (all of them if none does).

    Args:
        leaf: Leaf. A taxonomy leaf.

    Returns:
        tuple[str, ...]: synonyms, in the leaf's order.

    Example:
        >>> from tfrec.data.synthetic.taxonomy import TAXONOMY_LEAVES
        >>> mismatched_synonyms(TAXONOMY_LEAVES[0])
        ('sneakers', 'trainers', 'jogging shoes', 'runners')
    """
    title = set().union(*(_words(n) for n in leaf.nouns))
    clean = tuple(s for s in leaf.synonyms if not _words(s) & title)
    return clean or leaf.synonyms


def pick(forms: tuple[str, ...], r: float) -> str:
    """One of `forms`, chosen by the uniform draw `r` in [0, 1)."""
    return forms[min(int(r * len(forms)), len(forms) - 1)]


def title_word_overlap(queries: list[str], titles: list[str]) -> float:
    """The share of query words (lower-case letters and digits) that occur in some title.

    Args:
        queries: list[str]. Query texts.
        titles: list[str]. Item titles.

    Returns:
        float: matched query words / all query words (0.0 when there are none).

    Example:
        >>> title_word_overlap(["navy sneakers"], ["Nordvik Running Shoes, Navy Blue"])
        0.5
    """
    vocab = set().union(*(_words(t) for t in titles)) if titles else set()
    total = hit = 0
    for q in queries:
        words = _WORD.findall(q.lower())
        total += len(words)
        hit += sum(w in vocab for w in words)
    return hit / total if total else 0.0
