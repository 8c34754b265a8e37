"""A foreign hand as hardware (test fixture, not a twin task): see README.md here."""
