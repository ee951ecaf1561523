"""Sample uploads of one user (the demo's and the persona tests'): a bank statement (three
months), the rest of it (a fourth month and a repeat of the third, as overlapping exports
have), and a social-media export."""

from __future__ import annotations

import json

BANK_CSV = """Date,Description,Amount,Currency
2026-01-02,ACME CORP PAYROLL,2450.00,GBP
2026-01-03,NETFLIX.COM 8732,-15.49,GBP
2026-01-05,SPOTIFY P1A2B3,-10.99,GBP
2026-01-09,TESCO STORES 2231,-42.10,GBP
2026-01-10,PUREGYM MONTHLY,-24.99,GBP
2026-01-20,BRITISH AIRWAYS 125-88,-420.00,GBP
2026-02-02,ACME CORP PAYROLL,2450.00,GBP
2026-02-03,NETFLIX.COM 8732,-15.49,GBP
2026-02-05,SPOTIFY P1A2B3,-10.99,GBP
2026-02-11,TESCO STORES 2231,-38.50,GBP
2026-02-10,PUREGYM MONTHLY,-24.99,GBP
2026-02-14,Transfer to Jonathan Whitfield,-150.00,GBP
2026-03-02,ACME CORP PAYROLL,2450.00,GBP
2026-03-03,NETFLIX.COM 8732,-15.49,GBP
2026-03-05,SPOTIFY P1A2B3,-10.99,GBP
2026-03-10,PUREGYM MONTHLY,-24.99,GBP
2026-03-12,TESCO STORES 2231,-51.20,GBP
2026-03-28,AMEX PAYMENT THANK YOU,-200.00,GBP
"""
# Spending of BANK_CSV: everything negative.
BANK_SPEND = 15.49 * 3 + 10.99 * 3 + 42.10 + 38.50 + 51.20 + 24.99 * 3 + 420.00 + 150.00 + 200.00
BANK_PAYMENTS = 15

# April, and March's last two rows again (a second export overlapping the first).
BANK_APRIL_CSV = """Date,Description,Amount,Currency
2026-03-12,TESCO STORES 2231,-51.20,GBP
2026-03-28,AMEX PAYMENT THANK YOU,-200.00,GBP
2026-04-02,ACME CORP PAYROLL,2450.00,GBP
2026-04-03,NETFLIX.COM 8732,-15.49,GBP
2026-04-05,SPOTIFY P1A2B3,-10.99,GBP
2026-04-10,PUREGYM MONTHLY,-24.99,GBP
2026-04-15,TESCO STORES 2231,-47.30,GBP
"""
APRIL_SPEND = 15.49 + 10.99 + 24.99 + 47.30

SOCIAL = {
    "platform": "Instagram",
    "profile": {"username": "sunny_kestrel_88", "followers": 340, "following": 211},
    "posts": [
        {"timestamp": "2026-01-02T20:10:00", "caption": "Sunset run by the river with the club"},
        {"timestamp": "2026-01-09T21:05:00", "caption": "Yoga before bed, finally a calm week"},
        {"timestamp": "2026-01-16T19:40:00", "caption": "Long run in the rain, soaked but happy"},
        {"timestamp": "2026-01-20T08:15:00", "caption": "Coffee with Marguerite Okonjo-Baptiste"},
    ],
}
SOCIAL_JSON = json.dumps(SOCIAL)
# What must never reach a categorized file or a persona.
SECRETS = ("Jonathan Whitfield", "Whitfield", "sunny_kestrel_88", "Okonjo")
