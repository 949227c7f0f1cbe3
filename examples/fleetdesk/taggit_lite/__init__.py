"""taggit_lite: a small tagging app, vendored the way third-party apps often are (its own
migrations, its own app label, generic relations through contenttypes)."""
