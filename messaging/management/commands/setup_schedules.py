"""Create the delivery engine's django-q2 schedules (also done after every `migrate`)."""

import json

from django.core.management.base import BaseCommand

from messaging.services.dispatch import SCHEDULES, ensure_schedules


class Command(BaseCommand):
    help = "Create the django-q2 Schedule rows of the delivery engine if missing (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args, **options):
        created = ensure_schedules()
        if options["json"]:
            self.stdout.write(json.dumps({"created": created, "schedules": sorted(SCHEDULES)}))
        else:
            self.stdout.write(f"{created} schedule(s) created, {len(SCHEDULES) - created} already present")
