"""Reporting: redaction, Allure labels and attachments."""
