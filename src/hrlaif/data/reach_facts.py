"""The hand-written fact base behind the `mc2_facts` reach set (hrlaif.data.reach_sets).

Easy facts a child knows, chosen so that the wrong option of a two-option question is wrong
beyond argument: no word sits in two groups (no "orange" both fruit and colour, no "soft" both
the opposite of "hard" and of "loud"), and each colour question lists only the colours that
are clearly wrong for its thing. Edit with care: the bundled files are generated from this.
"""

from __future__ import annotations

from hrlaif.data.build_prompts import CAPITALS

__all__ = ["CAPITALS", "CLOSE_GROUPS", "COLORS", "GROUPS", "OPPOSITES", "SIZES", "SOUNDS"]

# "Which of these is <label>?": label -> members. The groups exclude one another.
GROUPS: dict[str, list[str]] = {
    "a fruit": ["apple", "banana", "grape", "pear", "cherry", "mango", "peach", "plum", "strawberry", "pineapple", "watermelon", "apricot"],
    "a vegetable": ["carrot", "potato", "onion", "cabbage", "broccoli", "lettuce", "spinach", "celery", "cauliflower", "radish", "turnip"],
    "an animal": ["dog", "cat", "horse", "cow", "lion", "tiger", "rabbit", "elephant", "bear", "monkey", "giraffe", "zebra", "fox"],
    "a piece of furniture": ["chair", "table", "sofa", "bed", "desk", "wardrobe", "bookshelf", "stool", "cupboard", "dresser"],
    "a vehicle": ["car", "bus", "truck", "bicycle", "train", "motorcycle", "tractor", "van", "taxi", "tram"],
    "a piece of clothing": ["shirt", "jacket", "sock", "dress", "skirt", "sweater", "scarf", "coat", "glove", "blouse"],
    "a musical instrument": ["piano", "guitar", "violin", "drum", "flute", "trumpet", "harp", "cello", "saxophone", "clarinet", "trombone"],
    "a tool": ["hammer", "saw", "screwdriver", "wrench", "drill", "shovel", "rake", "pliers", "chisel", "axe"],
    "a drink": ["water", "milk", "tea", "coffee", "juice", "lemonade", "cola", "smoothie"],
    "a part of the body": ["arm", "leg", "hand", "foot", "nose", "ear", "eye", "knee", "elbow", "shoulder", "finger", "toe"],
    "a color": ["red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "grey"],
    "a shape": ["circle", "square", "triangle", "rectangle", "oval", "hexagon", "pentagon"],
}

# Groups never set against each other: a fruit or a drink can name a color ("plum", "coffee"),
# and a saw can be played, a piano stands in a room like furniture.
CLOSE_GROUPS: set[frozenset[str]] = {
    frozenset(pair) for pair in [
        ("a color", "a fruit"), ("a color", "a vegetable"), ("a color", "a drink"),
        ("a tool", "a musical instrument"), ("a piece of furniture", "a musical instrument"),
    ]
}  # fmt: skip

# (animal, the sound it makes). No two animals share a sound (no goat beside the sheep, no
# snake beside the cat).
SOUNDS: list[tuple[str, str]] = [
    ("cow", "moo"), ("dog", "woof"), ("cat", "meow"), ("duck", "quack"), ("sheep", "baa"),
    ("pig", "oink"), ("horse", "neigh"), ("lion", "roar"), ("owl", "hoot"), ("bee", "buzz"),
    ("rooster", "cock-a-doodle-doo"), ("frog", "ribbit"), ("mouse", "squeak"), ("donkey", "hee-haw"),
    ("turkey", "gobble"), ("crow", "caw"),
]  # fmt: skip

# (thing, its color, colors that are clearly wrong for it): the distractor is drawn from the last.
COLORS: list[tuple[str, str, list[str]]] = [
    ("a ripe banana", "yellow", ["blue", "purple", "pink"]),
    ("grass", "green", ["blue", "red", "purple", "pink"]),
    ("fresh snow", "white", ["green", "red", "black", "purple"]),
    ("coal", "black", ["white", "yellow", "pink", "green"]),
    ("the sky on a sunny day", "blue", ["green", "brown", "black"]),
    ("a ripe strawberry", "red", ["blue", "black"]),
    ("milk", "white", ["green", "red", "blue", "black"]),
    ("a carrot", "orange", ["blue", "black"]),
    ("a lemon", "yellow", ["blue", "purple", "red", "black"]),
    ("milk chocolate", "brown", ["green", "blue"]),
    ("a polar bear's fur", "white", ["green", "blue", "red", "purple"]),
    ("a crow", "black", ["white", "yellow", "green", "pink", "red"]),
    ("a ripe tomato", "red", ["blue", "white"]),
    ("a pumpkin", "orange", ["blue", "purple", "pink", "black"]),
    ("blood", "red", ["green", "yellow", "white"]),
    ("an emerald", "green", ["red", "yellow", "orange"]),
    ("a flamingo", "pink", ["blue", "green", "black"]),
    ("an eggplant", "purple", ["red", "yellow", "orange"]),
    ("a school bus in the United States", "yellow", ["blue", "purple", "pink", "green"]),
    ("the leaves of a tree in summer", "green", ["blue", "pink", "purple", "white"]),
    ("a ruby", "red", ["green", "blue", "yellow"]),
    ("table salt", "white", ["green", "blue"]),
    ("a lime", "green", ["blue", "red", "purple", "pink"]),
    ("the sea on a sunny day", "blue", ["red", "pink", "yellow", "orange"]),
]

# Word pairs, each the other's opposite. No word is in two pairs, and no word is close to the
# opposite of a word in another pair (so no good/bad beside rich/poor, no in/out beside
# inside/outside, no hard/soft beside loud/quiet).
OPPOSITES: list[tuple[str, str]] = [
    ("hot", "cold"), ("big", "small"), ("up", "down"), ("day", "night"), ("fast", "slow"),
    ("happy", "sad"), ("open", "closed"), ("wet", "dry"), ("full", "empty"), ("young", "old"),
    ("left", "right"), ("in", "out"), ("push", "pull"), ("win", "lose"), ("rich", "poor"),
    ("loud", "quiet"), ("early", "late"), ("clean", "dirty"), ("thick", "thin"), ("top", "bottom"),
    ("buy", "sell"), ("true", "false"), ("strong", "weak"), ("near", "far"), ("north", "south"),
    ("east", "west"), ("before", "after"), ("on", "off"), ("cheap", "expensive"), ("tall", "short"),
    ("laugh", "cry"), ("summer", "winter"), ("arrive", "leave"), ("remember", "forget"),
    ("asleep", "awake"), ("alive", "dead"), ("sweet", "sour"), ("question", "answer"), ("love", "hate"),
]  # fmt: skip

# Things by size, smallest first; only things two or more tiers apart are compared, so which
# is bigger is never in doubt.
SIZES: list[list[str]] = [
    ["a grain of sand", "an ant", "a flea", "a grain of rice"],
    ["a pea", "a button", "a coin", "a bee", "a marble"],
    ["a mouse", "an egg", "a spoon", "a cup", "a key"],
    ["a cat", "a chair", "a guitar", "a suitcase"],
    ["a car", "a horse", "a bed", "a piano"],
    ["a bus", "a house", "a blue whale", "a train"],
    ["a skyscraper", "a cruise ship", "a football stadium"],
    ["a mountain", "a city", "a country"],
    ["the Moon"],
    ["the Earth"],
    ["the Sun"],
]
