"""The agents' desk (/desk): hand-off queue and live chat, case work, reminders, data maintenance."""
