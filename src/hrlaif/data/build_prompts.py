"""Build the bundled prompt sets (train.jsonl, eval.jsonl) from a fixed seed.

The keyed categories (math, multiple_choice) are generated here so every reference is right
by construction; harmful and open_ended prompts are hand-written in the .txt files beside
this module. Questions are kept easy on purpose: a 135M policy must sometimes get them
right, or there is nothing for correctness verification to prefer.

Run `python -m hrlaif.data.build_prompts [--out-dir DIR]`; the same seed gives the same files.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from hrlaif.jsonl import write_jsonl
from hrlaif.records import CATEGORIES, Prompt

SEED = 2403_08309
TRAIN_PER_CATEGORY = 75
EVAL_PER_CATEGORY = 50
HERE = Path(__file__).resolve().parent
LETTERS = "ABCD"

Item = tuple[str, str, list[str] | None]  # prompt text, reference, choices

# --- math -----------------------------------------------------------------------------

NAMES = ["Sam", "Mia", "Tom", "Ana", "Leo", "Zoe", "Ben", "Lily", "Max", "Emma", "Noah", "Ava"]
THINGS = ["apples", "pencils", "stickers", "marbles", "cookies", "books", "oranges", "cards"]


def _num(value: float) -> str:
    """Write a number without a trailing '.0', so '4.5' and '12' read as a person would."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bare(r: random.Random) -> tuple[str, str]:
    op = r.choice("+-x/")
    a, b = r.randint(2, 20), r.randint(2, 12)
    if op == "+":
        return f"What is {a} + {b}?", _num(a + b)
    if op == "-":
        return f"What is {a + b} - {b}?", _num(a)
    if op == "x":
        return f"What is {a % 10 + 2} x {b}?", _num((a % 10 + 2) * b)
    return f"What is {a * b} divided by {b}?", _num(a)


def _shopping(r: random.Random) -> tuple[str, str]:
    name, thing, n, price = r.choice(NAMES), r.choice(THINGS), r.randint(2, 6), r.randint(2, 5)
    return f"{name} buys {n} {thing} that cost {price} dollars each. How many dollars does {name} spend?", _num(n * price)


def _change(r: random.Random) -> tuple[str, str]:
    name, have = r.choice(NAMES), r.choice([10, 20, 50])
    cost = r.randint(2, have - 1)
    return f"{name} has {have} dollars and buys a toy for {cost} dollars. How many dollars are left?", _num(have - cost)


def _ages(r: random.Random) -> tuple[str, str]:
    name, age, gap = r.choice(NAMES), r.randint(4, 15), r.randint(2, 9)
    if r.random() < 0.5:
        return f"{name} is {age} years old. {name}'s cousin is {gap} years older. How old is the cousin?", _num(age + gap)
    return f"{name} is {age} years old now. How old will {name} be in {gap} years?", _num(age + gap)


def _distance(r: random.Random) -> tuple[str, str]:
    speed, hours = r.choice([10, 20, 30, 40, 50, 60]), r.randint(2, 5)
    return f"A car drives {speed} km every hour. How many km does it drive in {hours} hours?", _num(speed * hours)


def _sharing(r: random.Random) -> tuple[str, str]:
    thing, friends, each = r.choice(THINGS), r.randint(2, 6), r.randint(2, 8)
    return f"{friends * each} {thing} are shared equally among {friends} friends. How many does each friend get?", _num(each)


def _counting(r: random.Random) -> tuple[str, str]:
    a, b = r.randint(3, 20), r.randint(3, 20)
    return f"A box has {a} red balls and {b} blue balls. How many balls are in the box?", _num(a + b)


def _decimal(r: random.Random) -> tuple[str, str]:
    name, n, whole = r.choice(NAMES), r.randint(2, 5), r.randint(1, 4)
    return f"A pen costs {whole}.50 dollars. {name} buys {n} pens. How many dollars does {name} pay?", _num(n * (whole + 0.5))


def _fraction(r: random.Random) -> tuple[str, str]:
    if r.random() < 0.5:
        n = 2 * r.randint(3, 30)
        return f"What is half of {n}?", _num(n // 2)
    d = r.choice([3, 5, 7, 9])
    a = r.randint(1, d - 2)
    return f"What is {a}/{d} + 1/{d}? Give the answer as a fraction.", str(Fraction(a + 1, d))


def _percent(r: random.Random) -> tuple[str, str]:
    if r.random() < 0.5:
        p, n = r.choice([10, 20, 25, 50]), 20 * r.randint(1, 10)
        return f"What is {p}% of {n}?", _num(p * n // 100)
    total, right = 20, r.choice([10, 12, 15, 16, 18])
    return f"A quiz has {total} questions and Ana gets {right} right. What percent did she get right?", _num(right * 5)


MATH: list[tuple[Callable[[random.Random], tuple[str, str]], int]] = [
    (_bare, 6), (_shopping, 3), (_change, 3), (_ages, 3), (_distance, 2),
    (_sharing, 3), (_counting, 3), (_decimal, 1), (_fraction, 1), (_percent, 1),
]


def math_items(r: random.Random, count: int) -> list[Item]:
    """Draw easy word problems and bare sums until `count` distinct ones exist."""
    items: list[Item] = []
    seen: set[str] = set()
    makers, weights = zip(*MATH)
    while len(items) < count:
        text, answer = r.choices(makers, weights)[0](r)
        if text not in seen:
            seen.add(text)
            items.append((text, answer, None))
    return items


# --- multiple choice ------------------------------------------------------------------

CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"),
    ("Spain", "Madrid"), ("the United Kingdom", "London"), ("Russia", "Moscow"), ("China", "Beijing"),
    ("Egypt", "Cairo"), ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Mexico", "Mexico City"),
    ("Greece", "Athens"), ("Ireland", "Dublin"), ("Portugal", "Lisbon"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Kenya", "Nairobi"), ("Argentina", "Buenos Aires"), ("Thailand", "Bangkok"),
    ("South Korea", "Seoul"), ("India", "New Delhi"), ("Peru", "Lima"), ("Austria", "Vienna"),
    ("Poland", "Warsaw"), ("the Netherlands", "Amsterdam"), ("Turkey", "Ankara"), ("Cuba", "Havana"),
    ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
]

# question, right answer, wrong answers
FACTS = [
    ("Which planet is known as the Red Planet?", "Mars", ["Venus", "Jupiter", "Saturn"]),
    ("What gas do plants take in from the air to make their food?", "Carbon dioxide", ["Oxygen", "Helium", "Hydrogen"]),
    ("What is the largest ocean on Earth?", "The Pacific Ocean", ["The Atlantic Ocean", "The Indian Ocean", "The Arctic Ocean"]),
    ("How many legs does a spider have?", "8", ["6", "4", "10"]),
    ("What is frozen water called?", "Ice", ["Steam", "Sand", "Salt"]),
    ("Which animal is the largest mammal?", "The blue whale", ["The elephant", "The giraffe", "The hippopotamus"]),
    ("What does a thermometer measure?", "Temperature", ["Weight", "Length", "Speed"]),
    ("Which planet is closest to the Sun?", "Mercury", ["Earth", "Mars", "Neptune"]),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100", ["0", "50", "212"]),
    ("At what temperature in degrees Celsius does water freeze?", "0", ["100", "10", "32"]),
    ("Which river is the longest in Africa?", "The Nile", ["The Amazon", "The Thames", "The Danube"]),
    ("On which continent is Brazil?", "South America", ["Europe", "Asia", "Africa"]),
    ("Which is the largest continent?", "Asia", ["Europe", "Australia", "South America"]),
    ("Which organ pumps blood around the body?", "The heart", ["The lungs", "The liver", "The stomach"]),
    ("What do bees make?", "Honey", ["Milk", "Wool", "Cheese"]),
    ("How many days are in a week?", "7", ["5", "6", "8"]),
    ("How many continents are there on Earth?", "7", ["5", "6", "9"]),
    ("What is the star at the center of our solar system?", "The Sun", ["The Moon", "Mars", "The North Star"]),
    ("What is the chemical formula for water?", "H2O", ["CO2", "O2", "NaCl"]),
    ("Which sense do we use our nose for?", "Smell", ["Taste", "Hearing", "Sight"]),
    ("What does a caterpillar turn into?", "A butterfly", ["A frog", "A bird", "A fish"]),
    ("Which of these animals is a mammal?", "Dolphin", ["Shark", "Trout", "Octopus"]),
    ("What is the tallest mountain in the world?", "Mount Everest", ["Mont Blanc", "Mount Kilimanjaro", "Mount Fuji"]),
    ("What is the largest hot desert in the world?", "The Sahara", ["The Gobi", "The Mojave", "The Kalahari"]),
    ("What force pulls objects toward the ground?", "Gravity", ["Magnetism", "Friction", "Wind"]),
    ("Which color do you get by mixing blue and yellow?", "Green", ["Purple", "Orange", "Red"]),
    ("Which animal has a long trunk?", "The elephant", ["The giraffe", "The horse", "The lion"]),
    ("How many sides does a triangle have?", "3", ["4", "5", "6"]),
    ("How many sides does a hexagon have?", "6", ["5", "7", "8"]),
    ("Which season comes after winter?", "Spring", ["Summer", "Autumn", "Winter"]),
]

UNITS = [
    ("How many centimeters are in one meter?", "100", ["10", "1000", "12"]),
    ("How many meters are in one kilometer?", "1000", ["100", "10", "60"]),
    ("How many grams are in one kilogram?", "1000", ["100", "10", "500"]),
    ("How many minutes are in one hour?", "60", ["100", "30", "24"]),
    ("How many seconds are in one minute?", "60", ["100", "30", "10"]),
    ("How many hours are in one day?", "24", ["12", "20", "60"]),
    ("How many months are in one year?", "12", ["10", "52", "6"]),
    ("How many days are in a normal (non-leap) year?", "365", ["300", "100", "52"]),
    ("How many milliliters are in one liter?", "1000", ["100", "10", "60"]),
    ("How many inches are in one foot?", "12", ["10", "3", "100"]),
    ("How many weeks are in one year?", "52", ["12", "30", "100"]),
    ("How many millimeters are in one centimeter?", "10", ["100", "1000", "5"]),
    ("Which unit is used to measure mass?", "Kilogram", ["Meter", "Liter", "Second"]),
    ("Which unit is used to measure time?", "Second", ["Gram", "Meter", "Liter"]),
    ("Which unit is used to measure length?", "Meter", ["Liter", "Gram", "Second"]),
]


def mc_text(question: str, options: list[str]) -> str:
    """The prompt of a multiple choice question: the question, one lettered option a line, the instruction."""
    lines = [question, *(f"{letter}. {text}" for letter, text in zip(LETTERS, options))]
    lines.append("Answer with the letter of the correct option.")
    return "\n".join(lines)


def _mc(r: random.Random, question: str, right: str, wrong: list[str]) -> Item:
    """Shuffle the right answer among three distinct wrong ones; the reference is its letter."""
    options = [right, *r.sample(wrong, 3)]
    assert len(set(options)) == 4, question
    r.shuffle(options)
    return mc_text(question, options), LETTERS[options.index(right)], options


def _arithmetic_mc(r: random.Random) -> Item:
    a, b = r.randint(2, 9), r.randint(2, 9)
    op = r.choice("+x-")
    if op == "-":
        a += b
    answer = {"+": a + b, "x": a * b, "-": a - b}[op]
    near = [answer + d for d in (-2, -1, 1, 2, 10, -10, a, b)]
    wrong = list(dict.fromkeys(str(n) for n in near if n > 0 and n != answer))
    return _mc(r, f"What is {a} {op} {b}?", str(answer), wrong)


def _comparison_mc(r: random.Random) -> Item:
    kind = r.choice(["largest", "smallest", "even", "odd"])
    if kind in ("largest", "smallest"):
        numbers = r.sample(range(1, 100), 4)
        right = max(numbers) if kind == "largest" else min(numbers)
        wrong = [str(n) for n in numbers if n != right]
        return _mc(r, f"Which number is the {kind}?", str(right), wrong)
    parity = 0 if kind == "even" else 1
    right = r.choice([n for n in range(1, 50) if n % 2 == parity])
    wrong = [str(n) for n in r.sample([n for n in range(1, 50) if n % 2 != parity], 3)]
    return _mc(r, f"Which of these is an {kind} number?", str(right), wrong)


def multiple_choice_items(r: random.Random, count: int) -> list[Item]:
    """All table questions once each, topped up with generated arithmetic and comparisons."""
    capitals = [c for _, c in CAPITALS]
    items = [_mc(r, f"What is the capital of {country}?", city, [c for c in capitals if c != city])
             for country, city in CAPITALS]
    items += [_mc(r, q, right, wrong) for q, right, wrong in FACTS + UNITS]
    seen = {text for text, _, _ in items}
    while len(items) < count:
        item = (_arithmetic_mc if r.random() < 0.5 else _comparison_mc)(r)
        if item[0] not in seen:
            seen.add(item[0])
            items.append(item)
    return items[:count]


# --- hand-written ---------------------------------------------------------------------


def read_lines(name: str) -> list[str]:
    """Read a hand-written prompt list: one prompt a line, blank lines ignored, no repeats."""
    lines = [line.strip() for line in (HERE / name).read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    assert len(lines) == len(set(lines)), f"{name} has repeated lines"
    return lines


def text_items(name: str) -> list[Item]:
    return [(line, "", None) for line in read_lines(name)]


# --- assembly -------------------------------------------------------------------------


def build(out_dir: Path | str = HERE, seed: int = SEED) -> dict[str, int]:
    """Write train.jsonl and eval.jsonl into `out_dir`; returns the record count of each."""
    total = TRAIN_PER_CATEGORY + EVAL_PER_CATEGORY
    pools: dict[str, list[Item]] = {
        "math": math_items(random.Random(f"{seed}:math"), total),
        "multiple_choice": multiple_choice_items(random.Random(f"{seed}:mc"), total),
        "harmful": text_items("harmful_prompts.txt"),
        "open_ended": text_items("open_ended_prompts.txt"),
    }
    splits: dict[str, list[dict]] = {"train": [], "eval": []}
    for category in CATEGORIES:
        pool = pools[category]
        assert len(pool) == total, f"{category}: {len(pool)} prompts, need {total}"
        random.Random(f"{seed}:split:{category}").shuffle(pool)
        for split, chunk in (("train", pool[:TRAIN_PER_CATEGORY]), ("eval", pool[TRAIN_PER_CATEGORY:])):
            for n, (text, reference, choices) in enumerate(chunk, start=1):
                record = {"id": f"{split}-{category}-{n:04d}", "prompt": text, "category": category,
                          "reference": reference or None, "choices": choices}
                Prompt.model_validate(record)
                splits[split].append(record)
    train_texts = {r["prompt"] for r in splits["train"]}
    eval_texts = {r["prompt"] for r in splits["eval"]}
    assert len(train_texts) == len(splits["train"]) and len(eval_texts) == len(splits["eval"]), "repeated prompt"
    assert not train_texts & eval_texts, "train and eval share prompts"
    out_dir = Path(out_dir)
    return {split: write_jsonl(out_dir / f"{split}.jsonl", records) for split, records in splits.items()}


def builder_cli(doc: str, build: Callable[[Path, int], dict[str, int]], file_name: Callable[[str], str], seed: int,
                argv: list[str] | None = None) -> None:
    """The command line of a bundled-set builder: --out-dir, --seed; prints each file written."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where to write (default: the package)")
    parser.add_argument("--seed", type=int, default=seed)
    args = parser.parse_args(argv)
    for split, count in build(args.out_dir, args.seed).items():
        print(f"{args.out_dir / file_name(split)}: {count} prompts")


def main(argv: list[str] | None = None) -> None:
    builder_cli(__doc__, build, lambda split: f"{split}.jsonl", SEED, argv)


if __name__ == "__main__":
    main()
