"""Management resources of the canonical API (SPEC §3.1).

Each resource is a collection (GET list, POST create) and an item (GET, PATCH, DELETE)
under /workspaces/{workspaceId}/. Reads need the viewer role, writes admin
(WorkspaceRolePermission's default). Every lookup is filtered by the workspace of the URL,
so another workspace's id answers 404 exactly like an id that does not exist. Views parse,
call one service function, and answer.
"""

from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from messaging.dialects.channels_api.pagination import paginate
from messaging.dialects.channels_api.resources import serializers as s
from messaging.models import (
    Channel,
    Contact,
    ContactIdentifier,
    LinkClick,
    SmartLink,
    Tag,
    Template,
    WebhookAttempt,
    WebhookSubscription,
    Workspace,
)
from messaging.services import contacts as contact_services
from messaging.services import resources as services

PAGE_PARAMS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="Rows per page (default 50, at most 200)"),
    OpenApiParameter("pageToken", OpenApiTypes.STR, description="nextPageToken of the previous page"),
]


def page_body(rows: list, token: str | None) -> dict:
    body: dict = {"results": rows}
    if token:
        body["nextPageToken"] = token
    return body


class WorkspaceResourceView(GenericAPIView):
    """Base: the workspace of the URL, and the resource's objects filtered by it."""

    model: type
    noun = "object"

    @property
    def workspace(self) -> Workspace:
        if not hasattr(self, "_workspace"):
            ws = Workspace.objects.filter(pk=self.kwargs["workspace_id"]).first()
            if ws is None:  # a superuser reaches here for any id; keys and members do not
                raise exceptions.NotFound("No such workspace.")
            self._workspace = ws
        return self._workspace

    def get_queryset(self) -> QuerySet:
        return self.model.objects.filter(workspace_id=self.kwargs["workspace_id"])

    def get_object(self, pk=None):
        obj = self.get_queryset().filter(pk=self.kwargs["pk"] if pk is None else pk).first()
        if obj is None:
            # The same answer for a missing id and for another workspace's id.
            raise exceptions.NotFound(f"No such {self.noun}.")
        return obj

    def validated(self, partial: bool = False) -> dict:
        serializer = self.get_serializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def show(self, obj, extras: dict | None = None, status_code: int = status.HTTP_200_OK) -> Response:
        # Re-read through get_queryset so annotations and prefetches are in the answer.
        fresh = self.get_object(obj.pk)
        return Response({**self.get_serializer(fresh).data, **(extras or {})}, status=status_code)


class CollectionView(WorkspaceResourceView):
    def filter_list(self, qs: QuerySet) -> QuerySet:
        return qs

    def create(self, data: dict) -> tuple[object, dict]:
        raise exceptions.MethodNotAllowed(self.request.method)

    def get(self, request, workspace_id):
        rows, token = paginate(self.filter_list(self.get_queryset()), request)
        return Response(page_body(self.get_serializer(rows, many=True).data, token))

    def post(self, request, workspace_id):
        self.workspace  # noqa: B018 — 404 for a workspace that does not exist before validating
        obj, extras = self.create(self.validated())
        return self.show(obj, extras, status.HTTP_201_CREATED)


class ItemView(WorkspaceResourceView):
    def update(self, obj, data: dict):
        raise exceptions.MethodNotAllowed(self.request.method)

    def destroy(self, obj) -> None:
        raise exceptions.MethodNotAllowed(self.request.method)

    def get(self, request, workspace_id, pk):
        return Response(self.get_serializer(self.get_object()).data)

    def patch(self, request, workspace_id, pk):
        obj = self.get_object()
        return self.show(self.update(obj, self.validated(partial=True)))

    def delete(self, request, workspace_id, pk):
        self.destroy(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def crud_schema(tag: str, serializer, created=None, filters: tuple = ()):
    """extend_schema_view decorators for a collection view and an item view."""
    page = s.page_serializer(serializer, f"{serializer.__name__.removesuffix('Serializer')}Page")
    collection = extend_schema_view(
        get=extend_schema(
            operation_id=f"{tag}_list", tags=[tag], parameters=PAGE_PARAMS + list(filters), responses=page
        ),
        post=extend_schema(
            operation_id=f"{tag}_create",
            tags=[tag],
            request=serializer,
            responses={201: created or serializer},
        ),
    )
    item = extend_schema_view(
        get=extend_schema(operation_id=f"{tag}_get", tags=[tag], responses=serializer),
        patch=extend_schema(
            operation_id=f"{tag}_update", tags=[tag], request=serializer, responses=serializer
        ),
        delete=extend_schema(operation_id=f"{tag}_delete", tags=[tag], responses={204: None}),
    )
    return collection, item


def _param(name: str, description: str, kind=OpenApiTypes.STR) -> OpenApiParameter:
    return OpenApiParameter(name, kind, description=description)


# --- channels ----------------------------------------------------------------------------

channel_collection, channel_item = crud_schema(
    "channels",
    s.ChannelSerializer,
    s.ChannelCreatedSerializer,
    (_param("platform", "Only this platform"), _param("status", "active or inactive")),
)


class ChannelQuerysetMixin:
    model = Channel
    noun = "channel"
    serializer_class = s.ChannelSerializer


@channel_collection
class ChannelListView(ChannelQuerysetMixin, CollectionView):
    def filter_list(self, qs):
        for param in ("platform", "status", "connector"):
            if self.request.query_params.get(param):
                qs = qs.filter(**{param: self.request.query_params[param]})
        return qs

    def create(self, data):
        return services.create_channel(self.workspace, **data)


@channel_item
class ChannelItemView(ChannelQuerysetMixin, ItemView):
    def update(self, obj, data):
        return services.update_channel(obj, **data)

    def destroy(self, obj):
        services.delete_channel(obj)


# --- contacts ----------------------------------------------------------------------------

contact_collection, contact_item = crud_schema(
    "contacts",
    s.ContactSerializer,
    filters=(
        _param("identifier", "Only the contact with this identifier value (phone numbers in any format)"),
        _param("identifierKey", "With identifier: only this kind (phonenumber, emailaddress, ...)"),
    ),
)


class ContactQuerysetMixin:
    model = Contact
    noun = "contact"
    serializer_class = s.ContactSerializer

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .prefetch_related(Prefetch("identifiers", queryset=ContactIdentifier.objects.order_by("id")))
        )


@contact_collection
class ContactListView(ContactQuerysetMixin, CollectionView):
    def filter_list(self, qs):
        raw = self.request.query_params.get("identifier")
        if raw:
            idents = ContactIdentifier.objects.filter(
                workspace_id=self.kwargs["workspace_id"],
                value__in=contact_services.find_by_identifier_query(self.workspace, raw),
            )
            if self.request.query_params.get("identifierKey"):
                idents = idents.filter(key=self.request.query_params["identifierKey"])
            qs = qs.filter(pk__in=idents.values("contact_id"))
        return qs

    def create(self, data):
        return contact_services.create_contact(self.workspace, **data), {}


@contact_item
class ContactItemView(ContactQuerysetMixin, ItemView):
    def update(self, obj, data):
        return contact_services.update_contact(obj, **data)

    def destroy(self, obj):
        contact_services.delete_contact(obj)


# --- tags ----------------------------------------------------------------------------------

tag_collection, tag_item = crud_schema("tags", s.TagSerializer, filters=(_param("name", "Only this name"),))


class TagQuerysetMixin:
    model = Tag
    noun = "tag"
    serializer_class = s.TagSerializer


@tag_collection
class TagListView(TagQuerysetMixin, CollectionView):
    def filter_list(self, qs):
        name = self.request.query_params.get("name")
        return qs.filter(name=name.strip().lower()) if name else qs

    def create(self, data):
        return services.create_tag(self.workspace, **data), {}


@tag_item
class TagItemView(TagQuerysetMixin, ItemView):
    def update(self, obj, data):
        return services.update_tag(obj, **data)

    def destroy(self, obj):
        services.delete_tag(obj)


# --- templates -----------------------------------------------------------------------------

template_collection, template_item = crud_schema(
    "templates",
    s.TemplateSerializer,
    filters=(_param("name", "Only this name"), _param("locale", "Only this locale")),
)


class TemplateQuerysetMixin:
    model = Template
    noun = "template"
    serializer_class = s.TemplateSerializer


@template_collection
class TemplateListView(TemplateQuerysetMixin, CollectionView):
    def filter_list(self, qs):
        for param in ("name", "locale"):
            if self.request.query_params.get(param):
                qs = qs.filter(**{param: self.request.query_params[param]})
        return qs

    def create(self, data):
        return services.create_template(self.workspace, **data), {}


@template_item
class TemplateItemView(TemplateQuerysetMixin, ItemView):
    def update(self, obj, data):
        return services.update_template(obj, **data)

    def destroy(self, obj):
        services.delete_template(obj)


# --- smart links -----------------------------------------------------------------------------

smartlink_collection, smartlink_item = crud_schema(
    "smartlinks", s.SmartLinkSerializer, filters=(_param("linkid", "Only this linkid", OpenApiTypes.INT),)
)


class SmartLinkQuerysetMixin:
    model = SmartLink
    noun = "smart link"
    serializer_class = s.SmartLinkSerializer

    def get_queryset(self):
        return super().get_queryset().annotate(click_count=Count("short_links__clicks"))


@smartlink_collection
class SmartLinkListView(SmartLinkQuerysetMixin, CollectionView):
    def filter_list(self, qs):
        raw = self.request.query_params.get("linkid")
        if raw:
            if not raw.isdigit():
                raise exceptions.ValidationError({"linkid": ["must be a number"]})
            qs = qs.filter(linkid=int(raw))
        return qs

    def create(self, data):
        return services.create_smartlink(self.workspace, **data), {}


@smartlink_item
class SmartLinkItemView(SmartLinkQuerysetMixin, ItemView):
    def update(self, obj, data):
        return services.update_smartlink(obj, **data)

    def destroy(self, obj):
        services.delete_smartlink(obj)


@extend_schema_view(
    get=extend_schema(
        operation_id="smartlinks_clicks",
        tags=["smartlinks"],
        parameters=PAGE_PARAMS,
        responses=s.page_serializer(s.ClickSerializer, "ClickPage"),
    )
)
class SmartLinkClicksView(SmartLinkQuerysetMixin, WorkspaceResourceView):
    serializer_class = s.ClickSerializer

    def get(self, request, workspace_id, pk):
        smartlink = self.get_object()
        clicks = LinkClick.objects.filter(short_link__smartlink=smartlink).select_related("short_link")
        rows, token = paginate(clicks, request, time_field="at")
        return Response(page_body(s.ClickSerializer(rows, many=True).data, token))


# --- webhook subscriptions ----------------------------------------------------------------------

webhook_collection, webhook_item = crud_schema(
    "webhook-subscriptions", s.WebhookSubscriptionSerializer, s.WebhookSubscriptionCreatedSerializer
)


class WebhookQuerysetMixin:
    model = WebhookSubscription
    noun = "webhook subscription"
    serializer_class = s.WebhookSubscriptionSerializer


@webhook_collection
class WebhookListView(WebhookQuerysetMixin, CollectionView):
    def create(self, data):
        subscription = services.create_webhook_subscription(self.workspace, **data)
        return subscription, {"signingKey": subscription.signing_key}


@webhook_item
class WebhookItemView(WebhookQuerysetMixin, ItemView):
    def update(self, obj, data):
        return services.update_webhook_subscription(obj, **data)

    def destroy(self, obj):
        services.delete_webhook_subscription(obj)


@extend_schema_view(
    get=extend_schema(
        operation_id="webhook-subscriptions_attempts",
        tags=["webhook-subscriptions"],
        parameters=PAGE_PARAMS,
        responses=s.page_serializer(s.AttemptSerializer, "AttemptPage"),
    )
)
class WebhookAttemptsView(WebhookQuerysetMixin, WorkspaceResourceView):
    serializer_class = s.AttemptSerializer

    def get(self, request, workspace_id, pk):
        subscription = self.get_object()
        attempts = WebhookAttempt.objects.filter(subscription=subscription)
        rows, token = paginate(attempts, request, time_field="at")
        return Response(page_body(s.AttemptSerializer(rows, many=True).data, token))
