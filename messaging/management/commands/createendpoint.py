"""`manage.py createendpoint --channel ID --name NAME` → {"id", "endpointToken"}.

Another device (phone) for an `engine` channel; the token is shown once.
"""

from messaging.management.base import SwitchboardCommand, create_endpoint, get_channel


class Command(SwitchboardCommand):
    help = "Add a messaging endpoint (device) to an engine channel; the token is shown once."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="Id of an engine channel.")
        parser.add_argument("--name", required=True, help="Unique within the channel, e.g. 'Phone 2'.")

    def handle(self, *args, **options):
        channel = get_channel(options["channel"])
        endpoint, token = create_endpoint(channel, options["name"])
        self.emit(
            options,
            {"id": str(endpoint.id), "endpointToken": token},
            [
                f"Created endpoint {endpoint.name!r} of channel {channel.name!r}",
                f"id: {endpoint.id}",
                f"endpointToken: {token}",
                "Store the token now: it is not shown again.",
            ],
        )
