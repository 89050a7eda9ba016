"""The synthetic shop: an embedded e-commerce catalog with users, search and browse logs.

`generate_shop(cfg, out_dir)` writes four tables in the data contract of `tfrec.data.schema`
(items, events, judgments, users) so the main job runs anywhere without outside data.

How the shop behaves (and why models can learn from it):

- A three-level taxonomy (10 departments, 23 mid-level categories, 55 leaves) with invented
  brands, per-leaf attributes (colour, size, material, capacity ...), natural English titles and
  descriptions, lognormal prices around a per-leaf median and Zipf-like item popularity.
- Users have latent tastes: a few preferred leaves, preferred brands, a favourite colour, their
  own gender and sizes, and a price sensitivity. Tastes persist, so a user's history predicts
  their next items.
- Search sessions issue queries written the way people type them: head queries ("headphones"),
  attribute queries ("navy running shoes", "running shoes size 10"), tail queries with brand
  and attributes, synonyms ("sneakers", "earbuds", "skillet") and ~10% typos. The results come
  from an imperfect engine: it knows canonical names, only some synonyms and half the typos,
  over-shows popular items and adds lexical noise. Browse (home feed) sessions show items from
  the user's taste plus popular items.
- Clicks follow a position-based model: examination 1/position^0.7 times an attractiveness
  driven by the *true* intent (the leaf and attributes behind the query, not its words) and by
  the user's taste, brand, size and price sensitivity. Clicks lead to add-to-cart and purchases.
- `late_item_share` of the items launch in the last 10 days and are never shown before launch.
- The judgments table holds the graded truth for every issued query: 3 = the intended leaf with
  every asked attribute (and brand), 2 = the intended leaf, 1 = the same mid-level category.

Generation is deterministic (same config, same bytes) and streams to disk in chunks of
`cfg.chunk_rows` rows: events are simulated in fixed blocks of users with their own random
streams, so the content does not depend on `chunk_rows`.

Example:

    from tfrec.config import SyntheticConfig
    paths = generate_shop(SyntheticConfig(num_items=1000, num_users=300), "/tmp/shop")
    # {"items": Path("/tmp/shop/items.parquet"), "events": ..., "judgments": ..., "users": ...}
"""

from __future__ import annotations

import resource
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from tfrec.config import SyntheticConfig
from tfrec.data.schema import CATEGORY_SEPARATOR, EVENTS, ITEMS, JUDGMENTS, USERS

__all__ = ["generate_shop", "generation_benchmark", "summarize_shop", "TAXONOMY_LEAVES"]

# The log window ends here (fixed, so that the same seed gives the same bytes).
WINDOW_END = np.datetime64("2024-07-01T00:00:00", "s")
LATE_ITEM_DAYS = 10
MAX_JUDGMENTS_PER_QUERY = 100
MAX_GRADE1_PER_QUERY = 20  # same mid-level category: a weak grade, a few suffice
USERS_PER_BLOCK = 2000  # users simulated together with one random stream
CANDIDATES_PER_SLOT = 4  # the engine draws this many candidates per shown slot
TYPO_RATE = 0.10
EXAMINATION_POWER = 0.7
EVENT_CODES = ("impression", "click", "add_to_cart", "purchase")
_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}

# --------------------------------------------------------------------------------------------
# Catalog definition
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attr:
    """An attribute type: its values as written in titles, where it goes in titles/queries."""

    name: str
    label: str
    values: tuple[str, ...]
    title_pos: str  # "pre": before the noun ("Men's ... Shoes"); "post": after a comma
    query_pos: str  # same, in queries ("navy running shoes", "running shoes size 10")


def _attr(name: str, label: str, values: str, title_pos: str, query_pos: str) -> _Attr:
    return _Attr(name, label, tuple(values.split("|")), title_pos, query_pos)


_ATTR_LIST = (
    _attr("gender", "Fit", "Men's|Women's", "pre", "pre"),
    _attr(
        "colour",
        "Colour",
        "Black|White|Navy Blue|Grey|Red|Olive Green|Beige|Pink|Sky Blue|Burgundy",
        "post",
        "pre",
    ),
    _attr(
        "shoe_size", "Size", "Size 6|Size 7|Size 8|Size 9|Size 10|Size 11|Size 12", "post", "post"
    ),
    _attr("clothing_size", "Size", "Size S|Size M|Size L|Size XL|Size XXL", "post", "post"),
    _attr("connectivity", "Connection", "Wireless|Wired|Noise Cancelling", "pre", "pre"),
    _attr("speaker_power", "Output", "10W|20W|40W|60W", "post", "post"),
    _attr(
        "channels", "Channels", "2.0 Channel|2.1 Channel|3.1 Channel|5.1 Channel", "post", "post"
    ),
    _attr(
        "phone_model",
        "Compatible with",
        "for iPhone 15|for iPhone 14|for Galaxy S24|for Pixel 8",
        "post",
        "pre",
    ),
    _attr("case_material", "Material", "Silicone|Leather|Clear|Rugged", "pre", "pre"),
    _attr("charger_watts", "Power", "20W|30W|65W|100W", "pre", "pre"),
    _attr("battery_mah", "Capacity", "5000mAh|10000mAh|20000mAh|26800mAh", "post", "post"),
    _attr("laptop_screen", "Screen", "13 inch|14 inch|15.6 inch|17 inch", "pre", "pre"),
    _attr("storage", "Storage", "256GB SSD|512GB SSD|1TB SSD", "post", "post"),
    _attr("keyboard_layout", "Layout", "Full Size|Tenkeyless|60%", "pre", "pre"),
    _attr("monitor_size", "Screen", "24 inch|27 inch|32 inch|34 inch Ultrawide", "pre", "pre"),
    _attr("resolution", "Resolution", "1080p|1440p|4K", "pre", "pre"),
    _attr("pan_size", "Diameter", "20 cm|24 cm|28 cm|30 cm", "post", "post"),
    _attr(
        "cookware_material",
        "Material",
        "Cast Iron|Stainless Steel|Non-Stick Aluminium|Carbon Steel|Ceramic",
        "pre",
        "pre",
    ),
    _attr("pot_volume", "Capacity", "1.5 L|2.5 L|4 L|5.5 L", "post", "post"),
    _attr("kettle_volume", "Capacity", "1 L|1.5 L|1.7 L", "post", "post"),
    _attr("cups", "Capacity", "Single Serve|10 Cup|12 Cup", "pre", "pre"),
    _attr("appliance_watts", "Power", "600W|1000W|1500W|2200W", "post", "post"),
    _attr("bed_size", "Bed size", "Twin|Full|Queen|King", "pre", "pre"),
    _attr("fabric", "Material", "Egyptian Cotton|Linen|Bamboo|Microfiber", "pre", "pre"),
    _attr("firmness", "Firmness", "Soft|Medium Firm|Firm", "pre", "pre"),
    _attr("mat_thickness", "Thickness", "4 mm|6 mm|10 mm", "post", "post"),
    _attr("dumbbell_weight", "Weight", "2 kg|5 kg|10 kg|20 kg", "post", "pre"),
    _attr("resistance", "Resistance", "Light|Medium|Heavy|Extra Heavy", "pre", "pre"),
    _attr("persons", "Sleeps", "2-Person|4-Person|6-Person", "pre", "pre"),
    _attr("season", "Season", "Summer|3-Season|Winter", "pre", "pre"),
    _attr("lumens", "Brightness", "400 Lumen|800 Lumen|1200 Lumen", "post", "post"),
    _attr(
        "skin_type",
        "Skin type",
        "for Dry Skin|for Oily Skin|for Sensitive Skin|for Combination Skin",
        "post",
        "post",
    ),
    _attr("spf", "Protection", "SPF 30|SPF 50|SPF 50+", "pre", "pre"),
    _attr("volume_ml", "Volume", "50 ml|100 ml|200 ml|400 ml", "post", "post"),
    _attr(
        "hair_type",
        "Hair type",
        "for Curly Hair|for Dry Hair|for Oily Hair|for Fine Hair",
        "post",
        "post",
    ),
    _attr("scent", "Scent", "Floral|Woody|Citrus|Fresh Aquatic", "pre", "pre"),
    _attr("age", "Age", "Ages 3+|Ages 6+|Ages 8+|Ages 12+", "post", "post"),
    _attr("pieces", "Pieces", "250-Piece|500-Piece|1000-Piece|2000-Piece", "pre", "pre"),
    _attr("puzzle_theme", "Theme", "Landscape|Animal|World Map|Space", "pre", "pre"),
    _attr("players", "Players", "2-4 Players|2-6 Players|1-5 Players", "post", "post"),
    _attr("animal", "Character", "Teddy Bear|Bunny|Dinosaur|Unicorn|Penguin", "pre", "pre"),
    _attr("plush_size", "Height", "20 cm|30 cm|50 cm", "post", "post"),
    _attr("blade", "Blade", "Bypass|Anvil|Ratchet", "pre", "pre"),
    _attr("hose_length", "Length", "15 m|25 m|30 m|50 m", "post", "post"),
    _attr("mower_power", "Power source", "Cordless|Electric|Petrol", "pre", "pre"),
    _attr("cutting_width", "Cutting width", "33 cm|40 cm|46 cm", "post", "post"),
    _attr("outdoor_material", "Material", "Teak|Aluminium|Rattan|Steel", "pre", "pre"),
    _attr("pet_size", "Pet size", "Small|Medium|Large|Extra Large", "pre", "pre"),
    _attr("flavour", "Flavour", "Chicken|Lamb & Rice|Salmon|Beef", "post", "pre"),
    _attr("bag_weight", "Weight", "2 kg|6 kg|12 kg", "post", "post"),
    _attr("leash_length", "Length", "1.2 m|1.8 m|5 m Retractable", "post", "post"),
    _attr("litter_type", "Type", "Clumping|Clay|Silica|Pine", "pre", "pre"),
    _attr("tree_height", "Height", "80 cm|120 cm|160 cm", "post", "post"),
    _attr("paper", "Paper", "Lined|Dotted|Blank|Grid", "post", "pre"),
    _attr("pack", "Pack", "Pack of 10|Pack of 20|Pack of 36", "post", "post"),
    _attr("chair_material", "Material", "Mesh|Leather|Fabric", "pre", "pre"),
    _attr("desk_width", "Width", "100 cm|120 cm|140 cm|160 cm", "post", "post"),
    _attr("mount_type", "Mount", "Magnetic|Vent Clip|Dashboard Suction", "pre", "pre"),
    _attr("inflator_power", "Power source", "Cordless|12V Plug-In", "pre", "pre"),
)
_ATTRS = {a.name: a for a in _ATTR_LIST}
_ATTR_INDEX = {a.name: i for i, a in enumerate(_ATTR_LIST)}

# How users type some attribute values (the default is the value lower-cased, no apostrophes).
_QUERY_ALIASES = {
    "Navy Blue": ("navy", "navy blue", "dark blue"),
    "Olive Green": ("olive", "olive green", "khaki"),
    "Sky Blue": ("light blue", "sky blue"),
    "Grey": ("grey", "gray"),
    "Burgundy": ("burgundy", "maroon", "wine red"),
    "Size S": ("size s", "small"),
    "Size M": ("size m", "medium"),
    "Size L": ("size l", "large"),
    "Size XL": ("xl", "size xl"),
    "Size XXL": ("xxl", "2xl"),
    "for iPhone 15": ("iphone 15",),
    "for iPhone 14": ("iphone 14",),
    "for Galaxy S24": ("galaxy s24", "samsung s24"),
    "for Pixel 8": ("pixel 8",),
    "Noise Cancelling": ("noise cancelling", "anc"),
    "Non-Stick Aluminium": ("non stick", "nonstick"),
    "Stainless Steel": ("stainless steel", "stainless"),
    "Tenkeyless": ("tkl", "tenkeyless"),
    "34 inch Ultrawide": ("ultrawide", "34 inch"),
    "Lamb & Rice": ("lamb", "lamb and rice"),
    "5 m Retractable": ("retractable",),
    "12V Plug-In": ("12v",),
    "SPF 50+": ("spf 50+", "spf 50 plus"),
}


@dataclass(frozen=True)
class _Leaf:
    """A leaf category: how its items are named, typed by users, priced and described."""

    path: tuple[str, str, str]
    median_price: float
    nouns: tuple[str, ...]  # title nouns; the first is the usual one
    synonyms: tuple[str, ...]  # words users type that titles do not use
    attrs: tuple[str, ...]  # attribute types, at most 3
    adjectives: tuple[str, ...]
    phrases: tuple[str, ...]
    use: str

    @property
    def name(self) -> str:
        return self.path[2]

    @property
    def category(self) -> str:
        return CATEGORY_SEPARATOR.join(self.path)


def _leaf(
    path: str, price: float, nouns: str, syns: str, attrs: str, adjs: str, phr: str, use: str
) -> _Leaf:
    parts = tuple(path.split(" > "))
    return _Leaf(
        (parts[0], parts[1], parts[2]),
        price,
        tuple(nouns.split("|")),
        tuple(syns.split("|")),
        tuple(attrs.split("|")),
        tuple(adjs.split("|")),
        tuple(phr.split("|")),
        use,
    )


_C, _E, _H, _S = "Clothing & Shoes", "Electronics", "Home & Kitchen", "Sports & Outdoors"
_B, _T, _G, _P = "Beauty & Personal Care", "Toys & Games", "Garden & Outdoor", "Pet Supplies"
_O, _A = "Office Products", "Automotive"

# fmt: off
TAXONOMY_LEAVES: tuple[_Leaf, ...] = (
    _leaf(f"{_C} > Shoes > Running Shoes", 80, "Running Shoes|Running Trainers", "sneakers|trainers|jogging shoes|runners", "gender|colour|shoe_size", "Lightweight|Cushioned|Road|Trail", "Breathable Mesh|Non-Slip Sole|Shock Absorbing Midsole", "for daily runs, gym sessions and long walks"),
    _leaf(f"{_C} > Shoes > Hiking Boots", 120, "Hiking Boots|Trekking Boots", "walking boots|trail boots|mountain boots", "gender|colour|shoe_size", "Waterproof|Mid-Cut|Lightweight|Leather", "Vibram-Style Outsole|Padded Collar|Ankle Support", "for muddy trails and weekend treks"),
    _leaf(f"{_C} > Shoes > Sandals", 35, "Sandals|Slide Sandals", "flip flops|slides|sliders", "gender|colour|shoe_size", "Comfort|Adjustable|Sport|Casual", "Cushioned Footbed|Quick Dry Straps|Arch Support", "for the beach, the pool and summer days"),
    _leaf(f"{_C} > Outerwear > Rain Jackets", 90, "Rain Jacket|Waterproof Jacket", "raincoat|rain coat|waterproof coat|shell jacket", "gender|colour|clothing_size", "Packable|Hooded|Lightweight|Breathable", "Taped Seams|Adjustable Hood|Zip Pockets", "for commutes, hikes and unpredictable weather"),
    _leaf(f"{_C} > Outerwear > Down Jackets", 150, "Down Jacket|Puffer Jacket", "puffer|puffy jacket|winter coat|quilted jacket", "gender|colour|clothing_size", "Insulated|Hooded|Packable|Warm", "800 Fill Power|Water Resistant Shell|Two-Way Zip", "for cold mornings and winter travel"),
    _leaf(f"{_C} > Tops > T-Shirts", 20, "T-Shirt|Crew Neck Tee", "tee|tshirt|tees|tee shirt", "gender|colour|clothing_size", "Classic|Slim Fit|Organic Cotton|Relaxed Fit", "Soft Jersey|Tagless Collar|Pre-Shrunk", "for everyday wear and layering"),
    _leaf(f"{_C} > Tops > Hoodies", 45, "Hoodie|Hooded Sweatshirt", "hoody|sweatshirt|pullover", "gender|colour|clothing_size", "Fleece|Oversized|Zip-Up|Heavyweight", "Kangaroo Pocket|Brushed Interior|Ribbed Cuffs", "for lazy Sundays and chilly evenings"),
    _leaf(f"{_E} > Audio > Headphones", 90, "Over-Ear Headphones|Headphones", "earbuds|earphones|headset|ear buds", "connectivity|colour", "Bluetooth|Foldable|Studio|Bass Boost", "40H Battery|Built-In Microphone|Memory Foam Ear Cushions", "for music, calls and travel"),
    _leaf(f"{_E} > Audio > Bluetooth Speakers", 60, "Bluetooth Speaker|Portable Speaker", "wireless speaker|boombox|outdoor speaker", "colour|speaker_power", "Waterproof|Rugged|Compact|Party", "360 Degree Sound|24H Playtime|IPX7 Rating", "for the beach, the garden and parties"),
    _leaf(f"{_E} > Audio > Soundbars", 180, "Soundbar|TV Sound Bar", "tv speaker|home theater speaker|sound system", "channels|colour", "Slim|Dolby Atmos|Wireless Subwoofer|Compact", "HDMI ARC|Night Mode|Clear Dialogue", "for movies, sport and gaming on the TV"),
    _leaf(f"{_E} > Phone Accessories > Phone Cases", 15, "Phone Case|Protective Case", "phone cover|mobile cover|cell phone case", "phone_model|case_material|colour", "Slim|Shockproof|MagSafe Compatible|Wallet", "Raised Camera Lip|Anti-Yellowing|Wireless Charging Compatible", "to keep your phone safe from drops"),
    _leaf(f"{_E} > Phone Accessories > Chargers", 20, "USB-C Charger|Fast Charger", "charging plug|power adapter|wall plug|charger block", "charger_watts|colour", "GaN|Compact|Dual Port|Foldable", "PD 3.0 Fast Charging|Travel Friendly|Overheat Protection", "for phones, tablets and laptops"),
    _leaf(f"{_E} > Phone Accessories > Power Banks", 30, "Power Bank|Portable Charger", "battery pack|external battery|portable battery", "battery_mah|colour", "Slim|Fast Charging|Magnetic|High Capacity", "USB-C Input and Output|LED Display|Airline Safe", "for long days away from a socket"),
    _leaf(f"{_E} > Computers > Laptops", 800, "Laptop|Notebook Laptop", "ultrabook|notebook computer|portable computer", "laptop_screen|storage|colour", "Thin and Light|Gaming|Business|2-in-1", "16GB RAM|Backlit Keyboard|All-Day Battery", "for work, study and streaming"),
    _leaf(f"{_E} > Computers > Keyboards", 60, "Mechanical Keyboard|Keyboard", "keeb|typing keyboard|gaming keyboard", "keyboard_layout|colour", "RGB Backlit|Hot-Swappable|Wireless|Low Profile", "Tactile Switches|PBT Keycaps|USB-C Cable", "for typing and gaming"),
    _leaf(f"{_E} > Computers > Computer Mice", 25, "Wireless Mouse|Mouse", "mice|gaming mouse|computer mouse", "connectivity|colour", "Ergonomic|Silent Click|Rechargeable|Lightweight", "Adjustable DPI|Long Battery Life|Side Buttons", "for the office and for gaming"),
    _leaf(f"{_E} > Computers > Monitors", 220, "Monitor|Computer Monitor", "computer screen|pc screen|display screen", "monitor_size|resolution", "IPS|Curved|Gaming|Frameless", "144Hz Refresh Rate|Eye Care Flicker Free|Height Adjustable Stand", "for work, design and gaming"),
    _leaf(f"{_H} > Cookware > Frying Pans", 35, "Frying Pan|Fry Pan", "skillet|frypan|saute pan|omelette pan", "pan_size|cookware_material", "Induction|Deep|Oven Safe|PFOA-Free", "Stay-Cool Handle|Even Heat Distribution|Dishwasher Safe", "for eggs, pancakes and weeknight dinners"),
    _leaf(f"{_H} > Cookware > Saucepans", 40, "Saucepan|Sauce Pan with Lid", "pot|cooking pot|sauce pot|milk pan", "pot_volume|cookware_material", "Induction|Tri-Ply|Non-Stick|Stackable", "Glass Lid|Pouring Spouts|Measurement Markings", "for sauces, soups and rice"),
    _leaf(f"{_H} > Cookware > Dutch Ovens", 70, "Dutch Oven|Cast Iron Casserole", "casserole dish|cocotte|stew pot", "pot_volume|colour", "Enamelled|Round|Oval|Heavy Duty", "Self-Basting Lid|Oven Safe to 260C|Chip Resistant Enamel", "for stews, braises and bread"),
    _leaf(f"{_H} > Small Appliances > Coffee Makers", 90, "Coffee Maker|Drip Coffee Machine", "coffee machine|coffee brewer|filter coffee machine", "cups|colour", "Programmable|Compact|Thermal Carafe|Stainless", "Keep Warm Plate|Reusable Filter|Auto Shut-Off", "for a fresh pot every morning"),
    _leaf(f"{_H} > Small Appliances > Blenders", 70, "Blender|Countertop Blender", "smoothie maker|liquidizer|food blender", "appliance_watts|colour", "High Speed|Personal|Professional|Compact", "BPA-Free Jar|Pulse Function|Ice Crushing Blades", "for smoothies, soups and sauces"),
    _leaf(f"{_H} > Small Appliances > Kettles", 35, "Electric Kettle|Kettle", "water boiler|tea kettle|hot water kettle", "kettle_volume|colour", "Fast Boil|Glass|Temperature Control|Cordless", "Boil-Dry Protection|Limescale Filter|360 Degree Base", "for tea, coffee and instant meals"),
    _leaf(f"{_H} > Bedding > Bed Sheets", 45, "Bed Sheet Set|Fitted Sheet Set", "sheets|bedsheets|bed linen|linens", "bed_size|fabric|colour", "Deep Pocket|Breathable|Wrinkle Resistant|Luxury", "400 Thread Count|Fits Mattresses up to 40 cm|Hypoallergenic", "for cool, comfortable nights"),
    _leaf(f"{_H} > Bedding > Pillows", 30, "Bed Pillow|Pillow", "pillows|head pillow|sleeping pillow", "firmness|bed_size", "Memory Foam|Cooling|Hotel Quality|Side Sleeper", "Removable Cover|Machine Washable|Hypoallergenic Fill", "for side, back and stomach sleepers"),
    _leaf(f"{_S} > Fitness > Yoga Mats", 30, "Yoga Mat|Exercise Mat", "workout mat|pilates mat|gym mat", "colour|mat_thickness", "Non-Slip|Eco-Friendly|Extra Thick|Travel", "Carrying Strap|Alignment Lines|Sweat Resistant", "for yoga, pilates and home workouts"),
    _leaf(f"{_S} > Fitness > Dumbbells", 50, "Dumbbell Set|Adjustable Dumbbells", "weights|hand weights|free weights", "dumbbell_weight|colour", "Hex|Neoprene|Rubber Coated|Quick Lock", "Anti-Roll Design|Knurled Grip|Floor Friendly", "for strength training at home"),
    _leaf(f"{_S} > Fitness > Resistance Bands", 18, "Resistance Bands|Loop Bands", "exercise bands|workout bands|stretch bands", "resistance|colour", "Fabric|Latex-Free|Heavy Duty|Set of 5", "Carry Bag Included|Non-Roll Grip|Exercise Guide", "for glutes, legs and physiotherapy"),
    _leaf(f"{_S} > Camping > Tents", 150, "Camping Tent|Dome Tent", "tent|backpacking tent|pop up tent", "persons|season|colour", "Waterproof|Instant Setup|Lightweight|Family", "Rainfly Included|Mesh Windows|Easy Carry Bag", "for festivals, campsites and backpacking"),
    _leaf(f"{_S} > Camping > Sleeping Bags", 70, "Sleeping Bag|Mummy Sleeping Bag", "camping bag|sleep sack|bedroll", "season|colour", "Lightweight|Compact|Warm|Double", "Compression Sack|Two-Way Zip|Draft Collar", "for camping trips and sleepovers"),
    _leaf(f"{_S} > Cycling > Bike Helmets", 55, "Bike Helmet|Cycling Helmet", "bicycle helmet|mtb helmet|road helmet", "colour|clothing_size", "Lightweight|Ventilated|MIPS|Urban", "Adjustable Fit Dial|Removable Visor|Rear LED Light", "for commuting and mountain biking"),
    _leaf(f"{_S} > Cycling > Bike Lights", 25, "Bike Light Set|LED Bike Light", "bicycle lights|cycle lights|bike lamp", "lumens", "USB Rechargeable|Waterproof|Ultra Bright|Smart", "Front and Rear Set|Tool-Free Mount|5 Light Modes", "for safe riding after dark"),
    _leaf(f"{_B} > Skin Care > Moisturizers", 25, "Face Moisturizer|Moisturising Cream", "moisturiser|face cream|day cream|face lotion", "skin_type|volume_ml", "Hydrating|Oil-Free|Fragrance-Free|Night", "Hyaluronic Acid|Ceramides|Non-Comedogenic", "for soft, hydrated skin"),
    _leaf(f"{_B} > Skin Care > Sunscreen", 15, "Sunscreen|Sun Cream", "sunblock|sun lotion|suncream", "spf|volume_ml", "Mineral|Water Resistant|Lightweight|Tinted", "Broad Spectrum UVA/UVB|Reef Friendly|No White Cast", "for the beach and every day"),
    _leaf(f"{_B} > Skin Care > Face Serums", 30, "Face Serum|Vitamin C Serum", "facial serum|ampoule|booster", "skin_type", "Brightening|Anti-Aging|Niacinamide|Retinol", "Fast Absorbing|Dermatologist Tested|Vegan Formula", "for a brighter, even complexion"),
    _leaf(f"{_B} > Hair Care > Shampoo", 12, "Shampoo|Sulfate-Free Shampoo", "hair wash|shampoos|hair cleanser", "hair_type|volume_ml", "Moisturising|Volumising|Clarifying|Argan Oil", "Paraben Free|Colour Safe|Salon Quality", "for clean, healthy-looking hair"),
    _leaf(f"{_B} > Hair Care > Hair Dryers", 60, "Hair Dryer|Ionic Hair Dryer", "blow dryer|hairdryer|blowdryer", "appliance_watts|colour", "Professional|Travel|Quiet|Fast Drying", "Diffuser Attachment|Cool Shot Button|Foldable Handle", "for fast, frizz-free styling"),
    _leaf(f"{_B} > Fragrance > Perfume", 70, "Eau de Parfum|Perfume", "fragrance|scent|cologne", "gender|scent|volume_ml", "Signature|Long Lasting|Intense|Fresh", "Elegant Glass Bottle|Gift Ready Box|Notes of Bergamot", "for every day and special evenings"),
    _leaf(f"{_T} > Building Toys > Building Blocks", 40, "Building Blocks Set|Construction Set", "lego|bricks|building bricks|construction toy", "age|pieces", "Creative|Classic|Compatible|Starter", "Storage Box Included|Step-by-Step Instructions|Non-Toxic Plastic", "for young builders and rainy days"),
    _leaf(f"{_T} > Puzzles & Games > Jigsaw Puzzles", 20, "Jigsaw Puzzle|Puzzle", "puzzles|jigsaws|puzzle for adults", "pieces|puzzle_theme", "Challenging|Family|Premium|Glow in the Dark", "Poster Included|Precision Cut Pieces|Recycled Board", "for calm evenings and family time"),
    _leaf(f"{_T} > Puzzles & Games > Board Games", 35, "Board Game|Strategy Board Game", "family game|tabletop game|party game", "players|age", "Cooperative|Family|Strategy|Quick", "30 Minute Playtime|Easy to Learn|Award Winning", "for game nights with friends and family"),
    _leaf(f"{_T} > Plush & Dolls > Plush Toys", 18, "Plush Toy|Stuffed Animal", "soft toy|cuddly toy|plushie|teddy", "animal|plush_size", "Cuddly|Super Soft|Huggable|Cute", "Embroidered Eyes|Machine Washable|Safe for Babies", "for hugs, naps and nurseries"),
    _leaf(f"{_G} > Garden Tools > Pruning Shears", 25, "Pruning Shears|Secateurs", "pruners|garden clippers|hand pruner|clippers", "blade", "Professional|Heavy Duty|Ergonomic|Sharp", "SK5 Steel Blade|Safety Lock|Non-Slip Grip", "for roses, shrubs and small branches"),
    _leaf(f"{_G} > Garden Tools > Garden Hoses", 40, "Garden Hose|Expandable Hose", "hose|hosepipe|water hose|hose pipe", "hose_length|colour", "Expandable|Kink Free|Heavy Duty|Lightweight", "8 Pattern Spray Nozzle|Brass Fittings|Easy Storage", "for watering beds, lawns and cars"),
    _leaf(f"{_G} > Garden Tools > Lawn Mowers", 300, "Lawn Mower|Rotary Lawn Mower", "mower|grass cutter|lawnmower|grass mower", "mower_power|cutting_width", "Self-Propelled|Lightweight|Mulching|Push", "Height Adjustment|Grass Collection Box|Foldable Handle", "for small and medium lawns"),
    _leaf(f"{_G} > Outdoor Furniture > Patio Chairs", 90, "Patio Chair|Garden Chair", "outdoor chairs|garden seats|deck chairs|lawn chairs", "outdoor_material|colour", "Stackable|Folding|Weather Resistant|Reclining", "Cushions Included|UV Resistant|Rust Proof Frame", "for the patio, balcony and garden"),
    _leaf(f"{_G} > Outdoor Furniture > Hammocks", 50, "Hammock|Garden Hammock", "hanging bed|swing bed|outdoor hammock", "colour", "Double|Portable|Quilted|Brazilian", "Tree Straps Included|Holds 200 kg|Quick Dry Fabric", "for lazy afternoons outside"),
    _leaf(f"{_P} > Dogs > Dog Beds", 45, "Dog Bed|Orthopedic Dog Bed", "pet bed|dog cushion|dog mattress|puppy bed", "pet_size|colour", "Calming|Waterproof|Orthopedic|Donut", "Removable Washable Cover|Non-Slip Base|Raised Rim", "for dogs that love to curl up"),
    _leaf(f"{_P} > Dogs > Dog Food", 40, "Dry Dog Food|Dog Food", "kibble|dog kibble|puppy food|dog biscuits", "flavour|bag_weight", "Grain-Free|Adult|Puppy|Senior", "High Protein|No Artificial Colours|Complete and Balanced", "for healthy, happy dogs"),
    _leaf(f"{_P} > Dogs > Dog Leashes", 15, "Dog Leash|Dog Lead", "lead|leash|dog rope", "leash_length|colour", "Reflective|Padded|Heavy Duty|Hands-Free", "Comfort Handle|Strong Metal Clip|Night Visibility", "for daily walks and training"),
    _leaf(f"{_P} > Cats > Cat Litter", 20, "Cat Litter|Clumping Cat Litter", "kitty litter|litter|cat sand", "litter_type|bag_weight", "Odour Control|Dust Free|Unscented|Lightweight", "Long Lasting|Easy Scoop|Low Tracking", "for a fresh and clean litter box"),
    _leaf(f"{_P} > Cats > Cat Trees", 70, "Cat Tree|Cat Tower", "scratching post|cat condo|cat climber", "tree_height|colour", "Multi-Level|Sturdy|Modern|Compact", "Sisal Scratching Posts|Plush Perches|Hideaway Condo", "for climbing, scratching and napping"),
    _leaf(f"{_O} > Office Supplies > Notebooks", 10, "Notebook|Hardcover Journal", "journal|notepad|diary|jotter", "paper|colour", "A5|Hardcover|Spiral|Pocket", "120 gsm Paper|Elastic Closure|Numbered Pages", "for notes, journaling and planning"),
    _leaf(f"{_O} > Office Supplies > Pens", 12, "Gel Pens|Ballpoint Pens", "pens|gel pen|rollerball|biro", "pack|colour", "Smooth Writing|Quick Dry|Retractable|Fine Point", "0.5 mm Tip|Comfort Grip|Smudge Free Ink", "for school, office and journaling"),
    _leaf(f"{_O} > Office Furniture > Office Chairs", 180, "Office Chair|Ergonomic Desk Chair", "desk chair|computer chair|swivel chair", "chair_material|colour", "Ergonomic|High Back|Executive|Compact", "Lumbar Support|Adjustable Armrests|Tilt Lock", "for long days at the desk"),
    _leaf(f"{_O} > Office Furniture > Standing Desks", 300, "Standing Desk|Electric Height Adjustable Desk", "sit stand desk|stand up desk|adjustable desk", "desk_width|colour", "Electric|Dual Motor|Compact|L-Shaped", "Memory Presets|Cable Tray|Anti-Collision", "for healthier work days"),
    _leaf(f"{_A} > Car Electronics > Dash Cams", 70, "Dash Cam|Dashboard Camera", "dashcam|car camera|driving recorder", "resolution", "Front and Rear|Wide Angle|Night Vision|Compact", "Loop Recording|G-Sensor|Parking Mode", "for safer driving and insurance claims"),
    _leaf(f"{_A} > Car Accessories > Car Phone Mounts", 18, "Car Phone Mount|Car Phone Holder", "phone holder|car mount|phone cradle", "mount_type", "Universal|One-Touch|Adjustable|Sturdy", "360 Degree Rotation|Strong Grip|Easy Install", "for hands-free navigation"),
    _leaf(f"{_A} > Car Accessories > Tire Inflators", 45, "Tire Inflator|Portable Air Compressor", "tyre inflator|air pump|tire pump|tyre pump", "inflator_power", "Digital|Portable|Fast Inflation|Compact", "Auto Shut-Off|Built-In LED Light|Multiple Nozzles", "for tyres, bikes and balls"),
)
# fmt: on

_BRANDS = {
    _C: "Nordvik|Trailmark|Solenne|Kestrel & Co|Alder Finch|Ridgeline|Mavena|Brisa",
    _E: "Voxtra|Sonique|Pulsewave|Lumetric|Arcbyte|Kinetix|Zentro|Novacore",
    _H: "Hearthstone|Copperleaf|Maison Orla|Kitchara|Brevano|Ember & Oak|Casalux|Pinegrove",
    _S: "Summitra|Velocore|Peakform|Trekwise|Ironpath|Aerolite|Bluecrest|Strideon",
    _B: "Lumea|Verdana Skin|Aurelle|Pure Petal|Dermaly|Solara|Glowen|Maison Iris",
    _T: "Brickbuddy|Wonderloft|Tinytrek|Puzzlewood|Playmorrow|Happy Hedgehog|Starbloom|Gamecraft",
    _G: "Greenthumb|Fernhill|Yardcraft|Bloomfield|Terravita|Hedgeway|Oakmere|Sproutwell",
    _P: "Pawsome|Tailwind Pets|Furbelle|Barkley & Co|Whiskerly|Happy Hound|Petvale|Nosey Nook",
    _O: "Deskwell|Inkline|Paperhaus|Ergonomix|Scribeo|Workform|Quillson|Officio",
    _A: "Roadstar|Drivetec|Autovia|Motorhaus|Gearline|Tracwise|Carbonix|Highway Pro",
}
_BRANDS_PER_LEAF = 6
_CLOSINGS = (
    "Backed by a two-year warranty.",
    "Ships in recyclable packaging.",
    "Free returns within 30 days.",
    "Customers love it for its value for money.",
    "Designed to last and easy to care for.",
    "A great gift idea.",
)
_COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "ES", "IT", "SE")
_COUNTRY_WEIGHTS = np.array([30, 15, 12, 9, 8, 6, 5, 6, 5, 4], dtype=float)
_KEYBOARD_NEIGHBOURS = {
    c: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row)
    for n in [row[max(i - 1, 0)] + row[min(i + 1, len(row) - 1)]]
}


def _value_query_forms(value: str) -> tuple[str, ...]:
    if value in _QUERY_ALIASES:
        return _QUERY_ALIASES[value]
    return (value.lower().replace("'", ""),)


def _engine_knows(synonym: str) -> bool:
    """Whether the simulated search engine's synonym dictionary has this word (fixed, ~half)."""
    return zlib.crc32(synonym.encode("utf-8")) % 2 == 0


# --------------------------------------------------------------------------------------------
# The catalog and the users as arrays
# --------------------------------------------------------------------------------------------


class _Catalog:
    """Leaves, brands and items as numpy arrays; items are stored grouped by leaf."""

    def __init__(self, cfg: SyntheticConfig) -> None:
        rng = np.random.default_rng([cfg.seed, 1])
        leaves = TAXONOMY_LEAVES
        self.leaves = leaves
        n_leaves = len(leaves)
        self.tops = sorted({lf.path[0] for lf in leaves}, key=[lf.path[0] for lf in leaves].index)
        self.mids = sorted({lf.path[:2] for lf in leaves}, key=[lf.path[:2] for lf in leaves].index)
        self.leaf_top = np.array([self.tops.index(lf.path[0]) for lf in leaves])
        self.leaf_mid = np.array([self.mids.index(lf.path[:2]) for lf in leaves])
        self.mid_top = np.array([self.tops.index(m[0]) for m in self.mids])
        self.leaf_median = np.array([lf.median_price for lf in leaves], dtype=float)
        self.leaf_slot_type = np.full((n_leaves, 3), -1, dtype=np.int64)
        for i, lf in enumerate(leaves):
            for s, a in enumerate(lf.attrs):
                self.leaf_slot_type[i, s] = _ATTR_INDEX[a]
        self.leaf_nslots = (self.leaf_slot_type >= 0).sum(axis=1)
        self.type_nvals = np.array([len(a.values) for a in _ATTR_LIST])

        # brands: a global list; each leaf sells 6 of its department's 8, Zipf-popular
        self.brands: list[str] = []
        top_brand_ids = {}
        for top in self.tops:
            names = _BRANDS[top].split("|")
            top_brand_ids[top] = np.arange(len(self.brands), len(self.brands) + len(names))
            self.brands.extend(names)
        brand_premium = np.exp(rng.normal(0.0, 0.25, len(self.brands)))
        self.leaf_brands = np.zeros((n_leaves, _BRANDS_PER_LEAF), dtype=np.int64)
        for i, lf in enumerate(leaves):
            ids = top_brand_ids[lf.path[0]]
            self.leaf_brands[i] = rng.permutation(ids)[:_BRANDS_PER_LEAF]
        brand_w = 1.0 / np.arange(1, _BRANDS_PER_LEAF + 1) ** 0.8
        self.leaf_brand_cum = np.cumsum(brand_w / brand_w.sum())

        # leaf sizes and demand: some categories are bigger and busier than others
        n = cfg.num_items
        leaf_share = rng.lognormal(0.0, 0.5, n_leaves)
        leaf_share /= leaf_share.sum()
        if n >= 2 * n_leaves:
            counts = 1 + rng.multinomial(n - n_leaves, leaf_share)
        else:
            counts = rng.multinomial(n, leaf_share)
        self.leaf_count = counts
        self.leaf_lo = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.leaf_hi = np.cumsum(counts)
        self.mid_lo = np.array(
            [self.leaf_lo[self.leaf_mid == m].min() for m in range(len(self.mids))]
        )
        self.mid_hi = np.array(
            [self.leaf_hi[self.leaf_mid == m].max() for m in range(len(self.mids))]
        )
        self.top_lo = np.array(
            [self.leaf_lo[self.leaf_top == t].min() for t in range(len(self.tops))]
        )
        self.top_hi = np.array(
            [self.leaf_hi[self.leaf_top == t].max() for t in range(len(self.tops))]
        )
        demand = leaf_share * rng.lognormal(0.0, 0.4, n_leaves) * (counts > 0)
        self.leaf_traffic_cum = np.cumsum(demand / demand.sum())

        # items, grouped by leaf (the row order of the items file is shuffled by id)
        self.n = n
        leaf = np.repeat(np.arange(n_leaves), counts)
        self.item_leaf = leaf
        brand_slot = np.searchsorted(self.leaf_brand_cum, rng.random(n), side="right")
        brand_slot = np.minimum(brand_slot, _BRANDS_PER_LEAF - 1)
        self.item_brand = self.leaf_brands[leaf, brand_slot]
        slot_type = self.leaf_slot_type[leaf]
        nvals = np.where(slot_type >= 0, self.type_nvals[np.maximum(slot_type, 0)], 1)
        self.item_attr = np.where(
            slot_type >= 0, (rng.random((n, 3)) * nvals).astype(np.int64), -1
        ).astype(np.int16)
        self.item_gender = self._attr_of("gender")
        self.item_colour = self._attr_of("colour")
        shoe, cloth = self._attr_of("shoe_size"), self._attr_of("clothing_size")
        self.item_size_kind = np.where(shoe >= 0, 0, np.where(cloth >= 0, 1, -1))
        self.item_size = np.where(shoe >= 0, shoe, cloth)

        log_price = np.log(self.leaf_median[leaf] * brand_premium[self.item_brand])
        price = np.exp(rng.normal(log_price, 0.35))
        self.item_price = np.where(
            price >= 5, np.floor(price) + 0.99, np.round(np.maximum(price, 0.5), 2)
        )
        self.item_log_price_ratio = np.log(self.item_price / self.leaf_median[leaf])
        # Zipf-like popularity over the whole catalog; appeal partly follows popularity
        rank = rng.permutation(n) + 1
        zipf = rank.astype(float) ** -0.9
        self.item_appeal = 0.5 * (np.log(zipf) - np.log(zipf).mean()) / max(
            np.log(zipf).std(), 1e-9
        ) + rng.normal(0.0, 0.8, n)

        # launch dates: most items before the window; a share launches in its last 10 days
        window_s = int(cfg.num_days) * 86400
        end = int(WINDOW_END.astype(np.int64))
        self.window_start = end - window_s
        self.window_end = end
        late = rng.random(n) < cfg.late_item_share
        created = np.where(
            late,
            end - (rng.random(n) * LATE_ITEM_DAYS * 86400).astype(np.int64) - 3600,
            self.window_start - (rng.random(n) * 730 * 86400).astype(np.int64) - 3600,
        )
        self.item_created = created
        self.item_late = late
        # exposure weight of the engines: popularity, with new arrivals featured
        self.item_weight = zipf * np.where(late, 3.0, 1.0)
        self.cum_weight = np.concatenate([[0.0], np.cumsum(self.item_weight)])

        # ids: shuffled so that an id says nothing about the category
        self.id_perm = rng.permutation(n)
        width = max(6, len(str(n)))
        self.item_ids = pa.array([f"P{k:0{width}d}" for k in self.id_perm], type=pa.string())

        # words for titles and descriptions (drawn now so text is independent of chunking)
        self.text_draws = rng.random((n, 6))

    def _attr_of(self, attr_name: str) -> np.ndarray:
        t = _ATTR_INDEX[attr_name]
        slot_type = self.leaf_slot_type[self.item_leaf]
        hit = slot_type == t
        vals = np.where(hit, self.item_attr, -1).max(axis=1)
        return np.where(hit.any(axis=1), vals, -1).astype(np.int64)

    def item_text(self, i: int) -> tuple[str, str]:
        """Title and description of item `i` (internal index)."""
        lf = self.leaves[self.item_leaf[i]]
        r = self.text_draws[i]
        brand = self.brands[self.item_brand[i]]
        noun = lf.nouns[0] if r[0] < 0.75 or len(lf.nouns) == 1 else lf.nouns[1]
        adj = lf.adjectives[int(r[1] * len(lf.adjectives))] if r[2] < 0.8 else ""
        phrase = lf.phrases[int(r[3] * len(lf.phrases))]
        pre, post, specs = [], [], []
        for s, a_name in enumerate(lf.attrs):
            a = _ATTRS[a_name]
            value = a.values[self.item_attr[i, s]]
            (pre if a.title_pos == "pre" else post).append(value)
            specs.append(f"{a.label}: {value}")
        pre_words = {w for v in pre for w in v.split()}
        if pre_words & set(adj.split()) or set(adj.split()) & set(noun.split()):
            adj = ""  # no "Non-Stick Aluminium Non-Stick Saucepan"
        head = " ".join(w for w in [brand, *pre, adj, noun] if w)
        title = ", ".join([head, phrase, *post]) if r[4] < 0.7 else ", ".join([head, *post])
        other = lf.phrases[(int(r[3] * len(lf.phrases)) + 1) % len(lf.phrases)]
        kind = f"{adj.lower()} {noun.lower()}".strip()
        article = "An" if kind[0] in "aeiou" else "A"
        description = (
            f"{article} {kind} from {brand} {lf.use}. "
            f"Features: {phrase}, {other}. "
            f"{'; '.join(specs)}. "
            f"{_CLOSINGS[int(r[5] * len(_CLOSINGS))]}"
        )
        return title, description


class _Users:
    """Latent user tastes as arrays."""

    MAX_TASTES = 4

    def __init__(self, cfg: SyntheticConfig, cat: _Catalog) -> None:
        rng = np.random.default_rng([cfg.seed, 2])
        u = cfg.num_users
        self.n = u
        n_leaves = len(cat.leaves)
        self.gender = rng.integers(0, 2, u)
        self.colour = rng.integers(0, len(_ATTRS["colour"].values), u)
        self.shoe = np.clip(np.round(rng.normal(3.0, 1.5, u)), 0, 6).astype(np.int64)
        self.cloth = np.clip(np.round(rng.normal(1.6, 1.0, u)), 0, 4).astype(np.int64)
        self.beta = rng.lognormal(0.0, 0.5, u)  # price sensitivity

        # tastes: a home department plus a few leaves, mostly inside it
        k = rng.integers(2, self.MAX_TASTES + 1, u)
        home_leaf = np.searchsorted(cat.leaf_traffic_cum, rng.random(u), side="right")
        home_leaf = np.minimum(home_leaf, n_leaves - 1)
        home_top = cat.leaf_top[home_leaf]
        taste = np.full((u, self.MAX_TASTES), -1, dtype=np.int64)
        taste[:, 0] = home_leaf
        active = cat.leaf_count > 0
        for j in range(1, self.MAX_TASTES):
            same_top = rng.random(u) < 0.6
            global_pick = np.minimum(
                np.searchsorted(cat.leaf_traffic_cum, rng.random(u), side="right"), n_leaves - 1
            )
            # a random active leaf of the home department
            lo_leaf = np.array([np.flatnonzero(cat.leaf_top == t)[0] for t in range(len(cat.tops))])
            n_in_top = np.bincount(cat.leaf_top, minlength=len(cat.tops))
            local_pick = lo_leaf[home_top] + (rng.random(u) * n_in_top[home_top]).astype(np.int64)
            local_pick = np.where(active[local_pick], local_pick, global_pick)
            pick = np.where(same_top, local_pick, global_pick)
            taste[:, j] = np.where(j < k, pick, -1)
        w = rng.dirichlet(np.ones(self.MAX_TASTES) * 1.5, u) * (taste >= 0)
        # duplicates of the same leaf merge into one weight
        for j in range(1, self.MAX_TASTES):
            for i in range(j):
                dup = (taste[:, j] == taste[:, i]) & (taste[:, j] >= 0)
                w[dup, i] += w[dup, j]
                w[dup, j] = 0.0
                taste[dup, j] = -1
        self.taste = taste
        self.taste_w = w / w.sum(axis=1, keepdims=True)
        self.taste_cum = np.cumsum(self.taste_w, axis=1)
        # preferred brands: sold in the first two taste leaves
        b0 = cat.leaf_brands[taste[:, 0], rng.integers(0, 3, u)]
        second = np.where(taste[:, 1] >= 0, taste[:, 1], taste[:, 0])
        b1 = cat.leaf_brands[second, rng.integers(0, 3, u)]
        self.pref_brand = np.stack([b0, b1], axis=1)

        # activity: a heavy-tailed number of sessions per user, at least one
        lam = rng.gamma(1.5, max(cfg.sessions_per_user - 1.0, 0.05) / 1.5, u)
        self.n_sessions = 1 + rng.poisson(lam)
        signup_days = rng.random(u) * (cfg.num_days + 400) - 400
        self.signup = cat.window_start + (signup_days * 86400).astype(np.int64)
        self.signup = np.minimum(self.signup, cat.window_end - 86400)
        cw = _COUNTRY_WEIGHTS / _COUNTRY_WEIGHTS.sum()
        self.country = rng.choice(len(_COUNTRIES), size=u, p=cw)
        width = max(6, len(str(u)))
        self.ids = pa.array([f"U{k:0{width}d}" for k in range(u)], type=pa.string())


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def _typo(text: str, r: np.ndarray) -> str:
    """One realistic typo in one word of 4+ letters: swap, drop, double or a neighbour key."""
    words = text.split(" ")
    cand = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not cand:
        return text
    wi = cand[int(r[0] * len(cand))]
    w = words[wi]
    p = 1 + int(r[1] * (len(w) - 2))  # never the first letter
    op = int(r[2] * 4)
    if op == 0:
        w = w[:p] + w[p + 1] + w[p] + w[p + 2 :] if p + 1 < len(w) else w[:p]
    elif op == 1:
        w = w[:p] + w[p + 1 :]
    elif op == 2:
        w = w[:p] + w[p] + w[p:]
    else:
        nb = _KEYBOARD_NEIGHBOURS.get(w[p], w[p])
        w = w[:p] + nb[int(r[3] * len(nb))] + w[p + 1 :]
    words[wi] = w
    return " ".join(words)


def _render_query(
    cat: _Catalog, leaf: int, cons: np.ndarray, brand: int, r: np.ndarray
) -> tuple[str, int]:
    """The query text for an intent, and how the engine sees its noun.

    Returns (text, kind): kind 0 = a canonical name, 1 = a synonym the engine knows,
    2 = a synonym the engine does not know, 3 = a typo.
    """
    lf = cat.leaves[leaf]
    canonical = [lf.name.lower(), *[n.lower() for n in lf.nouns]]
    if r[0] < 0.6:
        # head forms are skewed to the first spelling, as real query logs are
        noun, kind = canonical[int(r[1] ** 2 * len(canonical))], 0
    else:
        noun = lf.synonyms[int(r[1] ** 2 * len(lf.synonyms))]
        kind = 1 if _engine_knows(noun) else 2
    pre, post = [], []
    for s in range(3):
        if cons[s] < 0:
            continue
        a = _ATTR_LIST[cat.leaf_slot_type[leaf, s]]
        forms = _value_query_forms(a.values[cons[s]])
        form = forms[int(r[2 + s] * len(forms))]
        (pre if a.query_pos == "pre" else post).append(form)
    words = ([cat.brands[brand].lower()] if brand >= 0 else []) + pre + [noun] + post
    text = " ".join(words)
    if r[5] < TYPO_RATE:
        typo = _typo(text, r[6:10])
        if typo != text:
            return typo, 3
    return text, kind


class _QueryRegistry:
    """Distinct query texts in order of first use, each with the intent that first produced it."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.texts: list[str] = []
        self.intents: list[tuple[int, int, int, int, int]] = []

    def add(self, text: str, intent: tuple[int, int, int, int, int]) -> int:
        qid = self.ids.get(text)
        if qid is None:
            qid = len(self.texts)
            self.ids[text] = qid
            self.texts.append(text)
            self.intents.append(intent)
        return qid


# --------------------------------------------------------------------------------------------
# Sessions, engine results, clicks
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _sample_segment(
    cat: _Catalog, lo: np.ndarray, hi: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Items drawn by popularity from index ranges [lo, hi); returns (items, ok)."""
    c = cat.cum_weight
    u = c[lo] + r * (c[hi] - c[lo])
    idx = np.searchsorted(c, u, side="right") - 1
    ok = hi > lo
    idx = np.clip(idx, lo, np.maximum(hi - 1, lo))
    return np.minimum(idx, cat.n - 1), ok


def _simulate_block(
    cfg: SyntheticConfig, cat: _Catalog, users: _Users, block: int, queries: _QueryRegistry
) -> dict[str, np.ndarray]:
    """Simulate every session of one block of users; returns event rows as arrays."""
    rng = np.random.default_rng([cfg.seed, 3, block])
    u0 = block * USERS_PER_BLOCK
    u1 = min(u0 + USERS_PER_BLOCK, users.n)
    ub = np.arange(u0, u1)
    n_leaves = len(cat.leaves)
    k = cfg.impressions_per_page

    # sessions
    ns = users.n_sessions[ub]
    s_user = np.repeat(ub, ns)
    s_k = np.arange(len(s_user)) - np.repeat(np.cumsum(ns) - ns, ns)
    S = len(s_user)
    lo_t = np.maximum(cat.window_start, users.signup[s_user])
    hi_t = cat.window_end - 6 * 3600  # sessions end before the window does
    t0 = lo_t + (rng.random(S) * (hi_t - lo_t)).astype(np.int64)
    order = np.lexsort((t0, s_user))
    t0 = t0[order]  # sessions of a user numbered in time order
    is_search = rng.random(S) < cfg.search_session_share
    # the leaf a search session is about: mostly the user's taste
    tj = (users.taste_cum[s_user] < rng.random(S)[:, None]).sum(axis=1)
    taste_leaf = users.taste[s_user, np.minimum(tj, users.MAX_TASTES - 1)]
    taste_leaf = np.where(taste_leaf >= 0, taste_leaf, users.taste[s_user, 0])
    global_leaf = np.minimum(
        np.searchsorted(cat.leaf_traffic_cum, rng.random(S), side="right"), n_leaves - 1
    )
    s_leaf = np.where(rng.random(S) < 0.75, taste_leaf, global_leaf)
    s_leaf = np.where(cat.leaf_count[s_leaf] > 0, s_leaf, taste_leaf)
    n_pages = np.minimum(rng.geometric(np.where(is_search, 0.65, 0.75)), 4)

    # pages
    P = int(n_pages.sum())
    p_sess = np.repeat(np.arange(S), n_pages)
    p_idx = np.arange(P) - np.repeat(np.cumsum(n_pages) - n_pages, n_pages)
    gap = np.where(p_idx == 0, 0, 40 + rng.exponential(120.0, P).astype(np.int64))
    cs = np.cumsum(gap)
    p_time = t0[p_sess] + cs - cs[(np.cumsum(n_pages) - n_pages)[p_sess]]
    p_user = s_user[p_sess]
    p_search = is_search[p_sess]
    p_leaf = s_leaf[p_sess]

    # search intents: head (no attributes), torso (one attribute), tail (brand + attributes)
    r = rng.random((P, 6))
    later = p_idx > 0
    head_p = np.where(later, 0.2, 0.45)
    tail_p = np.where(later, 0.35, 0.2)
    qtype = np.where(r[:, 0] < head_p, 0, np.where(r[:, 0] > 1 - tail_p, 2, 1))
    nslots = cat.leaf_nslots[p_leaf]
    qtype = np.where((nslots == 0) & (qtype == 1), 0, qtype)
    cons = np.full((P, 3), -1, dtype=np.int64)
    slot_a = (r[:, 1] * np.maximum(nslots, 1)).astype(np.int64)
    slot_b = (slot_a + 1 + (r[:, 2] * np.maximum(nslots - 1, 1)).astype(np.int64)) % np.maximum(
        nslots, 1
    )
    use_a = (qtype >= 1) & (nslots > 0)
    use_b = (qtype == 2) & (nslots >= 2) & (r[:, 3] < 0.5)
    vr = rng.random((P, 2))
    for slot, use, v in ((slot_a, use_a, vr[:, 0]), (slot_b, use_b, vr[:, 1])):
        t = cat.leaf_slot_type[p_leaf, slot]
        tt = np.maximum(t, 0)
        val = (v * cat.type_nvals[tt]).astype(np.int64)
        val = np.where(tt == _ATTR_INDEX["gender"], users.gender[p_user], val)
        val = np.where(tt == _ATTR_INDEX["shoe_size"], users.shoe[p_user], val)
        val = np.where(tt == _ATTR_INDEX["clothing_size"], users.cloth[p_user], val)
        val = np.where((tt == _ATTR_INDEX["colour"]) & (v < 0.5), users.colour[p_user], val)
        rows = np.flatnonzero(use & (t >= 0))
        cons[rows, slot[rows]] = val[rows]
    # brand: the user's favourite when the leaf sells it, else a popular brand of the leaf
    br = rng.random((P, 2))
    leaf_brand = cat.leaf_brands[
        p_leaf,
        np.minimum(
            np.searchsorted(cat.leaf_brand_cum, br[:, 0], side="right"), _BRANDS_PER_LEAF - 1
        ),
    ]
    fav = users.pref_brand[p_user, 0]
    fav_sold = (cat.leaf_brands[p_leaf] == fav[:, None]).any(axis=1)
    brand = np.where(fav_sold & (br[:, 1] < 0.7), fav, leaf_brand)
    p_brand = np.where(qtype == 2, brand, -1)

    # query texts (search pages only)
    p_query = np.full(P, -1, dtype=np.int64)
    p_kind = np.zeros(P, dtype=np.int64)
    qr = rng.random((P, 10))
    for p in np.flatnonzero(p_search):
        text, kind = _render_query(cat, int(p_leaf[p]), cons[p], int(p_brand[p]), qr[p])
        intent = (
            int(p_leaf[p]),
            int(cons[p, 0]),
            int(cons[p, 1]),
            int(cons[p, 2]),
            int(p_brand[p]),
        )
        p_query[p] = queries.add(text, intent)
        p_kind[p] = kind

    # does the engine understand the query? canonical yes, known synonyms mostly, typos half
    ur = rng.random(P)
    understood = np.select(
        [p_kind == 0, p_kind == 1, p_kind == 2], [ur < 0.95, ur < 0.85, ur < 0.0], ur < 0.5
    )

    # candidates: M per page, from leaf / mid / department / catalog segments by popularity
    M = CANDIDATES_PER_SLOT * k
    src_r = rng.random((P, M))
    # browse pages draw each candidate's leaf from the user's tastes
    tw = users.taste_cum[p_user]  # (P, T)
    tsel = (tw[:, None, :] < rng.random((P, M))[:, :, None]).sum(axis=2)
    b_leaf = users.taste[p_user[:, None], np.minimum(tsel, users.MAX_TASTES - 1)]
    b_leaf = np.where(b_leaf >= 0, b_leaf, users.taste[p_user, 0][:, None])
    s_leaf_m = np.broadcast_to(p_leaf[:, None], (P, M))
    search_m = np.broadcast_to(p_search[:, None], (P, M))
    und_m = np.broadcast_to(understood[:, None], (P, M))
    base_leaf = np.where(search_m, s_leaf_m, b_leaf)
    # source: 0 leaf, 1 mid, 2 department, 3 catalog
    cuts_und = np.array([0.70, 0.85, 0.92])
    cuts_not = np.array([0.25, 0.25, 0.55])
    cuts_browse = np.array([0.45, 0.60, 0.70])
    cuts = np.where(
        search_m[..., None], np.where(und_m[..., None], cuts_und, cuts_not), cuts_browse
    )
    source = (src_r[..., None] >= cuts).sum(axis=2)
    mid = cat.leaf_mid[base_leaf]
    top = cat.leaf_top[base_leaf]
    lo = np.select(
        [source == 0, source == 1, source == 2],
        [cat.leaf_lo[base_leaf], cat.mid_lo[mid], cat.top_lo[top]],
        0,
    )
    hi = np.select(
        [source == 0, source == 1, source == 2],
        [cat.leaf_hi[base_leaf], cat.mid_hi[mid], cat.top_hi[top]],
        cat.n,
    )
    cand, ok = _sample_segment(cat, lo, hi, rng.random((P, M)))
    ok &= cat.item_created[cand] <= p_time[:, None]
    # duplicates within a page count once
    srt = np.argsort(cand, axis=1, kind="stable")
    cs_sorted = np.take_along_axis(cand, srt, axis=1)
    dup_sorted = np.zeros_like(ok)
    dup_sorted[:, 1:] = cs_sorted[:, 1:] == cs_sorted[:, :-1]
    dup = np.zeros_like(ok)
    np.put_along_axis(dup, srt, dup_sorted, axis=1)
    ok &= ~dup

    # engine score: popularity + lexical/category match (search) or taste match (browse) + noise
    c_leaf = cat.item_leaf[cand]
    c_taste = _taste_weight(users, p_user, c_leaf)
    lexical = np.zeros((P, M))
    same_leaf = c_leaf == p_leaf[:, None]
    for s in range(3):
        cs_ = cons[:, s][:, None]
        lexical += (same_leaf & (cs_ >= 0) & (cat.item_attr[cand, s] == cs_)) * 1.0
    lexical *= und_m
    brand_hit = (p_brand[:, None] >= 0) & (cat.item_brand[cand] == p_brand[:, None])
    score = np.where(
        search_m,
        2.5 * (same_leaf & und_m) + lexical + 1.5 * brand_hit,
        1.5 * c_taste,
    )
    score = score + 0.6 * np.log(cat.item_weight[cand]) + rng.gumbel(0.0, 1.0, (P, M))
    score = np.where(ok, score, -np.inf)
    top_k = np.argsort(-score, axis=1, kind="stable")[:, :k]
    shown = np.take_along_axis(cand, top_k, axis=1)
    valid = np.isfinite(np.take_along_axis(score, top_k, axis=1))
    pos = np.broadcast_to(np.arange(1, k + 1)[None, :], (P, k))

    # attractiveness from the true intent and the user's taste
    i_leaf = cat.item_leaf[shown]
    same = i_leaf == p_leaf[:, None]
    attr_ok = np.ones((P, k), dtype=bool)
    for s in range(3):
        cs_ = cons[:, s][:, None]
        attr_ok &= (cs_ < 0) | (cat.item_attr[shown, s] == cs_)
    brand_ok = (p_brand[:, None] < 0) | (cat.item_brand[shown] == p_brand[:, None])
    same_mid = cat.leaf_mid[i_leaf] == cat.leaf_mid[p_leaf][:, None]
    rel = np.where(same & attr_ok & brand_ok, 3, np.where(same, 2, np.where(same_mid, 1, 0)))
    taste_w = _taste_weight(users, p_user, i_leaf)
    taste_mid = _taste_mid(cat, users, p_user, i_leaf)
    u_col = p_user[:, None]
    pref = (cat.item_brand[shown][..., None] == users.pref_brand[u_col]).any(axis=2)
    gender = cat.item_gender[shown]
    g_term = np.where(gender < 0, 0.0, np.where(gender == users.gender[u_col], 0.4, -1.6))
    size = cat.item_size[shown]
    kind_ = cat.item_size_kind[shown]
    user_size = np.where(kind_ == 0, users.shoe[u_col], users.cloth[u_col])
    sz_term = np.where(kind_ < 0, 0.0, np.where(size == user_size, 0.5, -0.7))
    col_term = 0.5 * (cat.item_colour[shown] == users.colour[u_col])
    price_term = -0.9 * users.beta[u_col] * cat.item_log_price_ratio[shown]
    personal = 0.9 * pref + g_term + sz_term + col_term + price_term + 0.45 * cat.item_appeal[shown]
    logit = np.where(
        p_search[:, None],
        -5.4 + 1.3 * rel + 0.8 * taste_w,
        -5.6 + 1.6 * (taste_w > 0) + 1.2 * taste_w + 0.6 * taste_mid,
    )
    logit = logit + personal
    p_click = _sigmoid(logit) / pos**EXAMINATION_POWER
    click = valid & (rng.random((P, k)) < p_click)
    rel_term = np.where(p_search[:, None], 0.35 * (rel - 2), 0.0)
    value = (
        0.5 * pref
        + 0.3 * cat.item_appeal[shown]
        - 0.4 * users.beta[u_col] * cat.item_log_price_ratio[shown]
    )
    atc = click & (rng.random((P, k)) < _sigmoid(-1.6 + rel_term + value))
    buy = atc & (rng.random((P, k)) < _sigmoid(-0.9 + value))
    cheap = cat.item_price[shown] < 25
    qty = 1 + rng.poisson(np.where(cheap, 0.35, 0.06))

    # timestamps: clicks a few seconds after the page, then cart, then checkout
    t_page = np.broadcast_to(p_time[:, None], (P, k))
    t_click = t_page + 1 + 2 * pos + rng.exponential(12.0, (P, k)).astype(np.int64)
    t_atc = t_click + 5 + rng.exponential(60.0, (P, k)).astype(np.int64)
    t_buy = t_atc + 30 + rng.exponential(400.0, (P, k)).astype(np.int64)
    last = cat.window_end - 1

    parts = []
    for code, mask, ts in (
        (0, valid, t_page),
        (1, click, t_click),
        (2, atc, t_atc),
        (3, buy, t_buy),
    ):
        pr, col = np.nonzero(mask)
        parts.append(
            {
                "page": pr,
                "item": shown[pr, col],
                "event": np.full(len(pr), code, dtype=np.int8),
                "ts": np.minimum(ts[pr, col], last),
                "position": col + 1,
                "quantity": np.where(code == 3, qty[pr, col], np.nan).astype(float),
            }
        )
    rows = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((rows["position"], rows["event"], rows["ts"], rows["page"]))
    rows = {key: v[order] for key, v in rows.items()}
    pg = rows.pop("page")
    rows["user"] = p_user[pg]
    rows["session_k"] = s_k[p_sess[pg]]
    rows["query"] = p_query[pg]
    return rows


def _taste_weight(users: _Users, user: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """The user's taste weight of each leaf (0 for leaves outside their tastes)."""
    t = users.taste[user]  # (P, T)
    w = users.taste_w[user]
    hit = leaf[..., None] == t[:, None, :]
    return (hit * w[:, None, :]).sum(axis=2)


def _taste_mid(cat: _Catalog, users: _Users, user: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    t = users.taste[user]
    tm = np.where(t >= 0, cat.leaf_mid[np.maximum(t, 0)], -1)
    return (cat.leaf_mid[leaf][..., None] == tm[:, None, :]).any(axis=2).astype(float)


# --------------------------------------------------------------------------------------------
# Judgments
# --------------------------------------------------------------------------------------------


def _judge(cat: _Catalog, intent: tuple[int, int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Up to MAX_JUDGMENTS_PER_QUERY (item, relevance) pairs, best grades first."""
    leaf, c0, c1, c2, brand = intent
    cons = (c0, c1, c2)
    lo, hi = int(cat.leaf_lo[leaf]), int(cat.leaf_hi[leaf])
    cap = MAX_JUDGMENTS_PER_QUERY
    g3: list[np.ndarray] = []
    g2: list[np.ndarray] = []
    n3 = n2 = 0
    step = 8192
    for start in range(lo, hi, step):
        idx = np.arange(start, min(start + step, hi))
        ok = np.ones(len(idx), dtype=bool)
        for s, v in enumerate(cons):
            if v >= 0:
                ok &= cat.item_attr[idx, s] == v
        if brand >= 0:
            ok &= cat.item_brand[idx] == brand
        g3.append(idx[ok][: cap - n3])
        n3 += len(g3[-1])
        if n2 < cap:
            g2.append(idx[~ok][: cap - n2])
            n2 += len(g2[-1])
        if n3 >= cap:
            break
    items3 = np.concatenate(g3) if g3 else np.zeros(0, dtype=np.int64)
    items2 = (np.concatenate(g2) if g2 else np.zeros(0, dtype=np.int64))[: cap - len(items3)]
    need = min(cap - len(items3) - len(items2), MAX_GRADE1_PER_QUERY)
    items1 = np.zeros(0, dtype=np.int64)
    if need > 0:
        m = cat.leaf_mid[leaf]
        rest = np.concatenate([np.arange(cat.mid_lo[m], lo), np.arange(hi, cat.mid_hi[m])]).astype(
            np.int64
        )
        if len(rest) > need:
            rest = rest[np.linspace(0, len(rest) - 1, need).astype(np.int64)]
        items1 = rest
    items = np.concatenate([items3, items2, items1]).astype(np.int64)
    rel = np.concatenate(
        [np.full(len(items3), 3.0), np.full(len(items2), 2.0), np.full(len(items1), 1.0)]
    )
    return items, rel


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class _TableWriter:
    """Appends Arrow tables to one parquet, CSV or JSON Lines file."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.path = path
        self.fmt = fmt
        self.schema = schema
        self.rows = 0
        if fmt == "parquet":
            self._writer: Any = pq.ParquetWriter(path, schema, compression="zstd")
        elif fmt == "csv":
            self._writer = pacsv.CSVWriter(path, self._text_schema())
        elif fmt == "jsonl":
            self._writer = open(path, "w", encoding="utf-8")  # noqa: SIM115
        else:
            raise ValueError(f"unknown format {fmt!r}; expected parquet, csv or jsonl")

    def _text_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                for f in self.schema
            ]
        )

    def _as_text(self, table: pa.Table) -> pa.Table:
        cols = []
        for f, col in zip(self.schema, table.columns, strict=True):
            if pa.types.is_timestamp(f.type):
                col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
            cols.append(col)
        return pa.table(cols, schema=self._text_schema())

    def write(self, table: pa.Table) -> None:
        table = table.cast(self.schema)
        self.rows += table.num_rows
        if table.num_rows == 0:
            return
        if self.fmt == "parquet":
            self._writer.write_table(table)
        elif self.fmt == "csv":
            self._writer.write_table(self._as_text(table))
        else:
            text = (
                self._as_text(table)
                .to_pandas()
                .to_json(orient="records", lines=True, force_ascii=False)
            )
            self._writer.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        self._writer.close()


_ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("price", pa.float64()),
        ("created_at", pa.timestamp("ns")),
    ]
)
_EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event", pa.string()),
        ("timestamp", pa.timestamp("ns")),
        ("query", pa.string()),
        ("position", pa.int64()),
        ("session_id", pa.string()),
        ("quantity", pa.float64()),
    ]
)
_JUDGMENTS_SCHEMA = pa.schema(
    [("query", pa.string()), ("item_id", pa.string()), ("relevance", pa.float64())]
)
_USERS_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("signup_at", pa.timestamp("ns")), ("country", pa.string())]
)
assert _ITEMS_SCHEMA.names == ITEMS.names
assert _EVENTS_SCHEMA.names == EVENTS.names
assert _JUDGMENTS_SCHEMA.names == JUDGMENTS.names
assert _USERS_SCHEMA.names[: len(USERS.names)] == USERS.names


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000_000, type=pa.timestamp("ns"))


def _write_items(cat: _Catalog, w: _TableWriter, chunk: int, progress: bool) -> None:
    inv = np.argsort(cat.id_perm)  # output row r holds the item whose id number is r
    categories = [lf.category for lf in cat.leaves]
    bar = tqdm(total=cat.n, desc="items", unit="item", disable=not progress)
    for r0 in range(0, cat.n, chunk):
        idx = inv[r0 : r0 + chunk]
        texts = [cat.item_text(int(i)) for i in idx]
        w.write(
            pa.table(
                {
                    "item_id": pc.take(cat.item_ids, pa.array(idx)),
                    "title": pa.array([t for t, _ in texts], pa.string()),
                    "description": pa.array([d for _, d in texts], pa.string()),
                    "category": pa.array([categories[x] for x in cat.item_leaf[idx]], pa.string()),
                    "brand": pa.array([cat.brands[b] for b in cat.item_brand[idx]], pa.string()),
                    "price": pa.array(cat.item_price[idx]),
                    "created_at": _ts(cat.item_created[idx]),
                }
            )
        )
        bar.update(len(idx))
    bar.close()


def _write_users(users: _Users, w: _TableWriter, chunk: int) -> None:
    countries = pa.array(_COUNTRIES, pa.string())
    for r0 in range(0, users.n, chunk):
        idx = np.arange(r0, min(r0 + chunk, users.n))
        w.write(
            pa.table(
                {
                    "user_id": pc.take(users.ids, pa.array(idx)),
                    "signup_at": _ts(users.signup[idx]),
                    "country": pc.take(countries, pa.array(users.country[idx])),
                }
            )
        )


def _events_table(
    cat: _Catalog, users: _Users, rows: dict[str, np.ndarray], queries: _QueryRegistry
) -> pa.Table:
    user_ids = pc.take(users.ids, pa.array(rows["user"]))
    q = rows["query"]
    qtexts = pa.array(queries.texts, pa.string())
    q_idx = pa.array(np.maximum(q, 0), mask=q < 0)
    session = pc.binary_join_element_wise(
        user_ids, pc.cast(pa.array(rows["session_k"] + 1), pa.string()), "-S"
    )
    return pa.table(
        {
            "user_id": user_ids,
            "item_id": pc.take(cat.item_ids, pa.array(rows["item"])),
            "event": pc.take(pa.array(EVENT_CODES), pa.array(rows["event"])),
            "timestamp": _ts(rows["ts"]),
            "query": pc.take(qtexts, q_idx),
            "position": pa.array(rows["position"].astype(np.int64)),
            "session_id": session,
            "quantity": pa.array(rows["quantity"], from_pandas=True),
        }
    )


def _run(
    cfg: SyntheticConfig, out_dir: str | Path, progress: bool
) -> tuple[dict[str, Path], dict[str, int]]:
    if cfg.format not in _EXTENSIONS:
        raise ValueError(
            f"SyntheticConfig.format must be parquet, csv or jsonl, got {cfg.format!r}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = _EXTENSIONS[cfg.format]
    paths = {name: out / f"{name}.{ext}" for name in ("items", "events", "judgments", "users")}
    chunk = int(cfg.chunk_rows)

    cat = _Catalog(cfg)
    users = _Users(cfg, cat)
    writers = {
        "items": _TableWriter(paths["items"], cfg.format, _ITEMS_SCHEMA),
        "events": _TableWriter(paths["events"], cfg.format, _EVENTS_SCHEMA),
        "judgments": _TableWriter(paths["judgments"], cfg.format, _JUDGMENTS_SCHEMA),
        "users": _TableWriter(paths["users"], cfg.format, _USERS_SCHEMA),
    }
    try:
        _write_items(cat, writers["items"], chunk, progress)
        _write_users(users, writers["users"], chunk)

        queries = _QueryRegistry()
        n_blocks = -(-users.n // USERS_PER_BLOCK)
        buffer: list[dict[str, np.ndarray]] = []
        buffered = 0

        def flush() -> None:
            nonlocal buffer, buffered
            if buffer:
                rows = {key: np.concatenate([b[key] for b in buffer]) for key in buffer[0]}
                for r0 in range(0, len(rows["ts"]), chunk):
                    part = {key: v[r0 : r0 + chunk] for key, v in rows.items()}
                    writers["events"].write(_events_table(cat, users, part, queries))
            buffer, buffered = [], 0

        for b in tqdm(range(n_blocks), desc="sessions", unit="block", disable=not progress):
            rows = _simulate_block(cfg, cat, users, b, queries)
            buffer.append(rows)
            buffered += len(rows["ts"])
            if buffered >= chunk:
                flush()
        flush()

        j_items: list[np.ndarray] = []
        j_rel: list[np.ndarray] = []
        j_q: list[np.ndarray] = []
        j_n = 0

        query_texts = pa.array(queries.texts, pa.string())  # final: sessions are done

        def flush_judgments() -> None:
            nonlocal j_items, j_rel, j_q, j_n
            if j_items:
                writers["judgments"].write(
                    pa.table(
                        {
                            "query": pc.take(query_texts, pa.array(np.concatenate(j_q))),
                            "item_id": pc.take(cat.item_ids, pa.array(np.concatenate(j_items))),
                            "relevance": pa.array(np.concatenate(j_rel)),
                        }
                    )
                )
            j_items, j_rel, j_q, j_n = [], [], [], 0

        for qid, intent in enumerate(
            tqdm(queries.intents, desc="judgments", unit="query", disable=not progress)
        ):
            items, rel = _judge(cat, intent)
            j_items.append(items)
            j_rel.append(rel)
            j_q.append(np.full(len(items), qid, dtype=np.int64))
            j_n += len(items)
            if j_n >= chunk:
                flush_judgments()
        flush_judgments()
    finally:
        for w in writers.values():
            w.close()
    return paths, {name: w.rows for name, w in writers.items()}


def generate_shop(
    cfg: SyntheticConfig, out_dir: str | Path, progress: bool = True
) -> dict[str, Path]:
    """Generate the synthetic shop into `out_dir` in `cfg.format`.

    Args:
        cfg: SyntheticConfig. Sizes, seed, chunk size and file format.
        out_dir: str | Path. Folder for `items`, `events`, `judgments` and `users` files
            (created if missing; existing files of the same names are replaced).
        progress: bool. Show tqdm progress bars. Defaults to True.

    Returns:
        {"items": path, "events": path, "judgments": path, "users": path}.
    """
    paths, _ = _run(cfg, out_dir, progress)
    return paths


class _PeakRss:
    """Samples this process's resident memory in a thread; the peak while it ran."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def generation_benchmark(
    num_items: int, num_users: int, out_dir: str | Path, **overrides: Any
) -> dict:
    """Generate a shop of the given size and measure it.

    Args:
        num_items: int. Catalog size.
        num_users: int. Number of users (events grow ~linearly with it: ~85 per user by default).
        out_dir: str | Path. Where the files go (the caller deletes them).
        **overrides: further SyntheticConfig fields (seed, format, chunk_rows ...).

    Returns:
        {"seconds": wall time, "peak_rss_mb": peak resident memory of the process during the
        run, "rows": {"items": n, "events": n, "judgments": n, "users": n}}.
    """
    cfg = SyntheticConfig(num_items=num_items, num_users=num_users, **overrides)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with _PeakRss() as mem:
        _, rows = _run(cfg, out_dir, progress=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss (KiB on Linux) is exact when the run raised the process peak
    peak = after * 1024 if after > before else mem.peak
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak / 2**20, 1), "rows": rows}


def summarize_shop(paths: dict[str, Path], max_position: int = 5) -> dict:
    """Headline figures of a generated shop: rows, CTR by position, funnel, search share."""
    frames = {name: _read(p) for name, p in paths.items()}
    ev = frames["events"]
    imp = ev[ev["event"] == "impression"]
    clk = ev[ev["event"] == "click"]
    counts = ev["event"].value_counts()
    imp_pos = imp["position"].value_counts()
    clk_pos = clk["position"].value_counts()
    sessions = ev.drop_duplicates("session_id")
    search_sessions = ev[ev["query"].notna()]["session_id"].nunique()
    items = frames["items"]
    created = pd.to_datetime(items["created_at"])
    late_cut = pd.Timestamp(str(WINDOW_END)) - pd.Timedelta(days=LATE_ITEM_DAYS)
    return {
        "rows": {name: len(df) for name, df in frames.items()},
        "events_by_type": {e: int(counts.get(e, 0)) for e in EVENT_CODES},
        "ctr": round(float(counts.get("click", 0) / max(counts.get("impression", 1), 1)), 4),
        "ctr_by_position": {
            p: round(float(clk_pos.get(p, 0) / max(imp_pos.get(p, 1), 1)), 4)
            for p in range(1, max_position + 1)
        },
        "search_session_share": round(search_sessions / max(len(sessions), 1), 3),
        "distinct_queries": int(ev["query"].nunique()),
        "late_items": int((created >= late_cut).sum()),
    }


def _read(path: Path) -> pd.DataFrame:
    suffix = Path(path).suffix
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    raise ValueError(f"{path}: unknown table format {suffix!r} (expected .parquet, .csv, .jsonl)")
