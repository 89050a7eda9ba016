"""The synthetic shop's word lists: attribute types, taxonomy leaves, brands, closings, countries.

Declarative tables only; `catalog`, `users` and `queries` turn them into arrays and texts.

Example:
    >>> from tfrec.data.synthetic.taxonomy import TAXONOMY_LEAVES
    >>> TAXONOMY_LEAVES[0].category
    'Clothing & Shoes > Shoes > Running Shoes'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfrec.data.schema import CATEGORY_SEPARATOR


@dataclass(frozen=True)
class Attr:
    """An attribute type: its values as written in titles, where it goes in titles/queries."""

    name: str
    label: str
    values: tuple[str, ...]
    title_pos: str  # "pre": before the noun ("Men's ... Shoes"); "post": after a comma
    query_pos: str  # same, in queries ("navy running shoes", "running shoes size 10")


def _attr(name: str, label: str, values: str, title_pos: str, query_pos: str) -> Attr:
    return Attr(name, label, tuple(values.split("|")), title_pos, query_pos)


ATTRIBUTES = (
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
ATTRS_BY_NAME = {a.name: a for a in ATTRIBUTES}
ATTR_INDEX = {a.name: i for i, a in enumerate(ATTRIBUTES)}

# How users type some attribute values (the default is the value lower-cased, no apostrophes).
QUERY_ALIASES = {
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
class Leaf:
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
) -> Leaf:
    parts = tuple(path.split(" > "))
    return Leaf(
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
TAXONOMY_LEAVES: tuple[Leaf, ...] = (
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

BRANDS = {
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
BRANDS_PER_LEAF = 6
CLOSINGS = (
    "Backed by a two-year warranty.",
    "Ships in recyclable packaging.",
    "Free returns within 30 days.",
    "Customers love it for its value for money.",
    "Designed to last and easy to care for.",
    "A great gift idea.",
)
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "ES", "IT", "SE")
COUNTRY_WEIGHTS = np.array([30, 15, 12, 9, 8, 6, 5, 6, 5, 4], dtype=float)
KEYBOARD_NEIGHBOURS = {
    c: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row)
    for n in [row[max(i - 1, 0)] + row[min(i + 1, len(row) - 1)]]
}
