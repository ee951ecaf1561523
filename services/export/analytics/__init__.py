"""Analytics over the lake: monthly and weekly reports, and read-only SQL for admins."""
