"""Who the simulated users are and what they write: personas, activity curve and texts.

The personas (how often each uses the chat bot, the journal, chat, community and payments),
the diurnal activity curve, the chat-bot intents with their prompts and replies, journal,
chat and community texts, mood factors, phone area codes and plans, and `User` (one simulated
user). scripts/simulate.py builds the day from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

APP_SCREENS = ["Home", "Mood Check-in", "Journal", "Breathe", "Chat", "Community", "Settings"]
APP_EVENTS = ["Breathing Exercise Completed", "Reminder Opened", "Streak Extended", "Tip Viewed"]

# Relative activity per UTC hour: quiet nights, a morning bump, a lunch dip, a long evening.
DIURNAL = [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 3.0, 2.5, 2.5,
           3.0, 2.8, 2.3, 2.2, 2.4, 2.8, 3.2, 3.8, 4.2, 4.0, 3.2, 2.0]  # fmt: skip
NIGHT_OWL = DIURNAL[-5:] + DIURNAL[:-5]


@dataclass(frozen=True)
class Persona:
    name: str
    weight: float
    mood: float  # mean mood score (1-10)
    sessions: tuple[int, int]  # sessions a day
    bot: float  # chat-bot conversations a session (expected)
    journal: float  # probability of a journal entry a session
    chat: float
    community: float
    subscriber: float
    intents: tuple[str, ...]
    hours: list[float] = field(default_factory=lambda: DIURNAL)


PERSONAS = [
    Persona("anxious_student", 3, 4.5, (1, 4), 1.2, 0.35, 0.15, 0.4, 0.2,
            ("anxiety_support", "exam_stress", "sleep", "mood_check")),
    Persona("busy_professional", 3, 5.5, (1, 2), 0.8, 0.2, 0.2, 0.1, 0.6,
            ("work_stress", "burnout", "mood_check", "breathing_exercise")),
    Persona("new_parent", 2, 5.0, (1, 3), 0.9, 0.3, 0.1, 0.5, 0.4,
            ("sleep", "overwhelm", "relationship", "mood_check"), NIGHT_OWL),
    Persona("in_recovery", 1, 4.0, (2, 4), 1.5, 0.5, 0.5, 0.3, 0.5,
            ("cravings", "grief", "mood_check", "crisis_support")),
    Persona("steady_tracker", 2, 7.0, (1, 2), 0.3, 0.6, 0.0, 0.1, 0.5,
            ("gratitude", "mood_check")),
    Persona("lurker", 2, 6.0, (1, 1), 0.2, 0.05, 0.0, 0.7, 0.1, ("mood_check",)),
]  # fmt: skip

BOT = {
    "anxiety_support": [
        ("My chest gets tight before every class and I can't calm down",
         "That sounds really uncomfortable. Shall we try a 4-7-8 breathing exercise together?"),
        ("I keep worrying that everyone is judging me",
         "Worries like that are common and exhausting. What felt okay today?"),
    ],
    "exam_stress": [
        ("I have three exams next week and I feel like I'm drowning",
         "That's a lot at once. Shall we break the week into small study blocks with breaks?"),
    ],
    "sleep": [
        ("I woke up at 3am again and couldn't get back to sleep",
         "Broken sleep is hard. A short wind-down routine can help; want to build one?"),
        ("the baby was up all night and I'm running on empty",
         "Being that tired affects everything. Is there someone who could take one night shift?"),
    ],
    "work_stress": [
        ("My manager moved the deadline up again and I'm so angry",
         "It makes sense to feel angry when plans change without you. What feels most urgent?"),
    ],
    "burnout": [
        ("I don't feel anything about my job anymore, I just go through the motions",
         "Feeling numb at work can be a sign of burnout. How long has it felt this way?"),
    ],
    "breathing_exercise": [
        ("can we do the breathing thing again",
         "Of course. Breathe in for 4, hold for 7, out for 8."),
    ],
    "overwhelm": [
        ("There is too much to do and nobody helps",
         "Carrying everything alone is overwhelming. Which task could wait until tomorrow?"),
    ],
    "relationship": [
        ("My partner and I keep arguing about small things",
         "Small arguments often sit on top of bigger tiredness. What happened last time?"),
    ],
    "cravings": [
        ("The cravings are strong tonight", "Thank you for reaching out. Urges peak and pass; "
         "can you call your sponsor or use your coping plan now?"),
    ],
    "grief": [
        ("It's been a year since mom died and today feels heavy",
         "Anniversaries can bring grief back strongly. Would you like to share a memory of her?"),
    ],
    "gratitude": [
        ("Today was actually good, I went for a walk with my sister",
         "That's lovely to hear. What made the walk feel good?"),
    ],
    "mood_check": [
        ("meh. tired", "Thanks for checking in. On a scale of 1 to 10, how are you feeling?"),
        ("a bit better than yesterday", "I'm glad. What helped, do you think?"),
    ],
    "crisis_support": [
        ("I don't see the point of anything anymore",
         "I'm really glad you told me. You don't have to go through this alone. If you are in "
         "danger, please call or text 988 now. Would you like me to connect you with a counselor?"),
    ],
}  # fmt: skip

JOURNAL = [
    "Hard day. {friend} cancelled our plans again and I ended up scrolling until 2am.",
    "Therapy today helped. We talked about boundaries and I practiced saying no.",
    "Woke up anxious for no reason. Walked to the park, felt a little better by lunch.",
    "Note to self, {me}: you survived worse weeks than this one.",
    "Dinner with {friend} and {friend2}. Laughed more than I have in months.",
    "I keep replaying the meeting. I know it went fine but my brain won't let it go.",
    "Slept 7 hours for the first time in weeks. Grateful.",
    "{friend} texted me out of the blue to ask how I am. It meant a lot.",
]
JOURNAL_CONTACT = [
    " My new counselor said to email her at {email} if things get bad.",
    " If I lose my phone again, my number is {phone}.",
    " Reminder: {friend}'s new number is {phone}.",
]
CHAT_USER = [
    "Hi, I wanted to talk about how this week went.",
    "Can we move our session to Thursday?",
    "I tried the journaling exercise, it was harder than I expected.",
    "My sister thinks I should take a break from social media.",
]
CHAT_OTHER = [
    "Thanks for sharing that. How did it feel afterwards?",
    "Thursday at 5pm works. I've updated the booking.",
    "That's a really common experience. What made it hard?",
    "What do you think about her suggestion?",
]
COMMUNITY = [
    "Anyone else find Sunday evenings the hardest?",
    "Day 30 without a panic attack. Small wins!",
    "Does anyone have tips for sleeping with a newborn?",
    "Sending love to everyone having a rough week.",
]
GROUPS = ["anxiety-circle", "new-parents", "recovery-daily", "students", "grief-support"]
MOOD_FACTORS = ["sleep", "work", "family", "exercise", "weather", "social", "health", "money"]
AREA_CODES = ["212", "312", "415", "617", "206", "303", "512", "646", "718", "404"]
PLANS = {"basic": "9.99", "premium": "19.99", "premium_annual": "179.99"}


@dataclass
class User:
    user_id: str
    persona: Persona
    first: str
    name: str
    email: str
    phone: str
    ip: str
    user_agent: str
    friends: list[str]
    plan: str | None
    is_new: bool
