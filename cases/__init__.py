"""cases/: every durable fact of the hotline (cases, events, departments, users, knowledge, polls)
and the workflow rules; it knows nothing about channels or the dialogue."""
