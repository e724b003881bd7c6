"""What starts executions besides a client: schedules (the cron loop and its virtual clock) and
events (delivered to the functions subscribed to them)."""
