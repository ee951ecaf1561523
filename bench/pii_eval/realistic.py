"""A realistic set: journal, chat and bot text with hard negatives and names written out.

The Faker corpus draws its names from the same Faker lists the gazetteer is built from, so its
PERSON recall is an upper bound. This set's names are written out here, not drawn from Faker:
common US/UK names, names from elsewhere (some in no list the gazetteer knows), and names that
are also English words. Its negatives are the fragments that journal text is full of.
"""

from __future__ import annotations

import random
import re

from bench.pii_eval.scoring import Sample, Span
from libs.common.pii.findings import EMAIL_ADDRESS, PERSON, PHONE_NUMBER

REAL_FIRST = (
    "Justin", "Marissa", "Ashley", "Connor", "Megan", "Tyler", "Brittany", "Kevin", "Heather",
    "Jordan", "Bailey", "Dennis", "Claudia", "Kristen", "Todd", "Cory", "Lauren", "Katrina",
    "Priya", "Oluwaseun", "Siobhan", "Tomasz", "Mei", "Aroha", "Thandiwe", "Joaquin", "Anh",
    "Kwame", "Yusuf", "Fatima", "Nikolai", "Ingrid", "Saoirse", "Ciaran", "Ngozi", "Dmitri",
    "Keanu", "Zainab", "Mateo", "Hiroshi", "Agnieszka", "Emeka", "Leilani", "Bartholomew",
)  # fmt: skip
# Names that are also words: tagged only where they are used as names.
REAL_WORD_NAMES = ("Grace", "Hope", "Will", "Mark", "Rose", "Joy", "Faith", "Bill", "Frank")
REAL_SURNAMES = (
    "Nguyen", "Okafor", "Kowalski", "Patel", "O'Brien", "Schmidt", "Haddad", "Fernandez",
    "Smith", "Johnson", "Adeyemi", "Lindqvist", "Takahashi", "Mwangi", "Reyes", "Brennan",
)  # fmt: skip

# {A} {B}: first names (a repeated slot is the same name), {W}: a word-name used as a name,
# {S}: a surname, {a}: a lower-case first name, {PHONE}, {EMAIL}.
REAL_TEMPLATES = (
    "Hard day. {A} cancelled our plans again and I ended up scrolling until 2am.",
    "Dinner with {A} and {B}. Laughed more than I have in months. Reminder: {A}'s new number "
    "is {PHONE}.",
    "{A} texted me out of the blue to ask how I am. It meant a lot.",
    "Note to self, {A}: you survived worse weeks than this one.",
    "talked to {a} for an hour, felt lighter after",
    "{A} {S} from group asked if I'm ok. I told {A} I'm fine, which is a lie.",
    "Dr {S} upped my dose to 20mg. {A} drove me to the appointment.",
    "Had coffee with {W} this morning; {W} really gets it.",
    "My sister {A} thinks I should take a break from social media.",
    "Reminder: call {A} {S} at {PHONE} about the lease.",
    "Mom and {A} argued again. I hid in my room.",
    "I miss {A}. Grief comes in waves.",
    "{A}'s birthday is next week and I have no energy to plan anything.",
    "Group tonight: {A} shared her story, {B} cried, I said nothing.",
    "Walked with {W} {S} by the river and talked about the panic attacks.",
    "meh. {A} says I should journal more, so here I am.",
    "If things get bad I can email {A} at {EMAIL}.",
    "ugh, {a} didn't show up again",
    "Can we move our session to Thursday? {A} has my car.",
    "Therapist said {A} is probably projecting. Maybe.",
    # Held out, as the negatives above.
    "Called my cousin {A} tonight, first time in months.",
    "{A} and {B} invited me to the lake house.",
    "Aunt {A} sent a card. Made me cry.",
    "Coach {S} said I can skip practice this week.",
    "my roommate {a} keeps leaving dishes everywhere",
    "Saw {A} {S} at the pharmacy and hid behind the shelves.",
    "Texted {A}. No reply. Texted {A} again.",
    "Nurse {S} was kind about the bloodwork.",
    "{A} says the group meets on Tuesdays now.",
    "Lunch with {W} went better than expected.",
)
# No identifier at all: fragments NER likes to tag, word-names used as words, months, brands,
# medications, places, organisations. Several are the simulator's own texts.
HARD_NEGATIVES = (
    "meh. tired",
    "meh",
    "Meh. Same as yesterday.",
    "Broken sleep is hard. A short wind-down routine can help; want to build one?",
    "Felt hopeless all afternoon.",
    "Grace period on the rent ends Friday.",
    "I will try the breathing thing again tomorrow.",
    "May was hard. June is already better.",
    "Hope is a strange thing, it keeps coming back.",
    "Joy feels far away lately.",
    "Faith in myself is low today.",
    "Rose early, walked to the park, felt okay.",
    "Mark the calendar: one week without a panic attack!",
    "Bill came in the mail and I panicked.",
    "Will I ever feel normal again?",
    "Frank talk with my manager about burnout.",
    "Summer makes my anxiety worse.",
    "Ugh. Another sleepless night.",
    "Numb. Just numb.",
    "Exhausted. Overwhelmed. Proud I got out of bed.",
    "Lonely, tired, hungry. HALT check says eat something.",
    "Crying in the car again. Whatever.",
    "Honestly? Scared. Lost. Hopeful maybe.",
    "Brain fog all day. Panic at the grocery store.",
    "Sober day 12. Cravings at 4pm, called my sponsor.",
    "Started Lexapro on Monday after the Zoom call with the Headspace coach.",
    "Spent Christmas in Chicago; the Netflix binge did not help my Sunday scaries.",
    "Read about CBT and DBT on the NHS page, then did the Calm breathing exercise.",
    "Zoloft makes me sleepy. Asked about switching to Wellbutrin.",
    "Kaiser Permanente finally approved the referral.",
    "Picked up the refill at Walgreens, then Trader Joe's for snacks.",
    "Christian music on the drive helped a bit.",
    "Amber alert on my phone scared me half to death.",
    "Crystal clear now that I need more rest.",
    "Major breakthrough in therapy today.",
    "Sleep: 4h. Mood: low. Meds: taken.",
    "Woke up anxious for no reason. Walked to the park, felt a little better by lunch.",
    "I woke up at 3am again and couldn't get back to sleep",
    "Anyone else find Sunday evenings the hardest?",
    "Day 30 without a panic attack. Small wins!",
    "Thanks for checking in. On a scale of 1 to 10, how are you feeling?",
    "Of course. Breathe in for 4, hold for 7, out for 8.",
    "Thank you for reaching out. Urges peak and pass; can you call your sponsor now?",
    "It's been a year since mom died and today feels heavy",
    "Today was actually good, I went for a walk with my sister",
    "Long day. Better after a walk. Couldn't sleep.",
    "Journal prompt: what would you tell a friend? Answer: be kind.",
    "Depressed again, skipped the gym. Dawn walks used to help.",
    "Chase flagged my card again and I spiralled.",
    "Summarize the feelings in this journal entry: meh. tired",
    # Written after the rules were tuned on the lines above, then measured once as held out.
    "Woke up at 5. Couldn't shake the dread.",
    "Panic attack in the Target parking lot. Breathed through it.",
    "Hopeful? Maybe. Tired? Definitely.",
    "Mood: flat. Energy: none. Appetite: meh.",
    "Skipped lunch again, Dr. appointment tomorrow.",
    "Ran into my ex at Starbucks and spiralled.",
    "Watched Friends reruns until midnight.",
    "Therapist recommended the book Feeling Good.",
    "Went to the AA meeting at St. Mary's church.",
    "Booked a session through BetterHelp.",
    "Patience is running thin with everyone.",
    "Sunny Sunday, finally some light.",
    "Rain all week. Misty mornings make it worse.",
    "Autumn always makes me sad.",
    "Christmas with family is stressful.",
    "Lost. Angry. Then calm after the walk.",
    "Spent Easter alone this year.",
    "Overwhelmed by the Amazon returns pile.",
    "Happy? Not really. Okay? Kind of.",
    "Jealous of everyone on Instagram.",
    "Drew a picture instead of doom scrolling.",
    "Penny saved is a penny earned, but I spent it all.",
    "Will power is low today.",
    "Grateful for the Crisis Text Line volunteers.",
    "Angry at myself. Again.",
    "Faithful to my routine this week: meds, walk, water.",
    "Dusty shelves, messy room, messy head.",
    "Sandy beach trip planned for June.",
    "Hunter green sweater, comfiest thing I own.",
)
_REAL_SLOT = re.compile(r"\{(A|B|W|S|a|PHONE|EMAIL)\}")


def make_realistic(n: int, *, seed: int = 3, negative_share: float = 0.5) -> list[Sample]:
    """`n` labelled texts: every negative and template once (shuffled), then random draws,
    a `negative_share` of them hard negatives."""
    rnd = random.Random(seed)
    order = [*HARD_NEGATIVES, *REAL_TEMPLATES]
    rnd.shuffle(order)
    samples: list[Sample] = []
    for i in range(n):
        if i < len(order):
            template = order[i]
        else:
            pool = HARD_NEGATIVES if rnd.random() < negative_share else REAL_TEMPLATES
            template = rnd.choice(pool)
        samples.append(_fill_real(template, rnd))
    return samples


def _fill_real(template: str, rnd: random.Random) -> Sample:
    first, second = rnd.sample(REAL_FIRST, 2)
    surname = rnd.choice(REAL_SURNAMES)
    values = {
        "A": first,
        "B": second,
        "W": rnd.choice(REAL_WORD_NAMES),
        "S": surname,
        "a": first.lower(),
        "PHONE": f"({rnd.randint(200, 999)}) {rnd.randint(200, 999)}-{rnd.randint(0, 9999):04d}",
        "EMAIL": f"{first.lower()}.{surname.lower().replace(chr(39), '')}{rnd.randint(1, 97)}"
        f"@{rnd.choice(('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com'))}",
    }
    entity = {"PHONE": PHONE_NUMBER, "EMAIL": EMAIL_ADDRESS}
    parts: list[str] = []
    spans: list[Span] = []
    pos = length = 0
    for m in _REAL_SLOT.finditer(template):
        parts.append(template[pos : m.start()])
        length += m.start() - pos
        value = values[m.group(1)]
        spans.append(Span(entity.get(m.group(1), PERSON), length, length + len(value)))
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(template[pos:])
    # "{W} {S}" and "{A} {S}" are one name: merge adjacent PERSON spans.
    merged: list[Span] = []
    for s in spans:
        if merged and s.entity == PERSON == merged[-1].entity and s.start == merged[-1].end + 1:
            merged[-1] = Span(PERSON, merged[-1].start, s.end)
        else:
            merged.append(s)
    return Sample("".join(parts), tuple(merged))
