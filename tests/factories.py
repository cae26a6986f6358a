"""Factories for tests: small functions that build valid objects with sensible defaults."""

import itertools

from django.contrib.auth import get_user_model

from messaging.models import (
    AccessKey,
    AppUser,
    Channel,
    Contact,
    ContactIdentifier,
    Membership,
    Message,
    MessagingEndpoint,
    Role,
    Service,
    Workspace,
)

_seq = itertools.count(1)


def create_workspace(name: str | None = None, **kwargs) -> Workspace:
    return Workspace.objects.create(name=name or f"Workspace {next(_seq)}", **kwargs)


def create_access_key(workspace: Workspace, role: str = Role.ADMIN, name: str | None = None) -> tuple[AccessKey, str]:
    key = AccessKey(workspace=workspace, role=role, name=name or f"{role} key {next(_seq)}")
    plaintext = key.set_token()
    key.save()
    return key, plaintext


def create_channel(workspace: Workspace, platform: str = "sms", connector: str = "sandbox", **kwargs) -> Channel:
    kwargs.setdefault("name", f"{platform} {connector} {next(_seq)}")
    return Channel.objects.create(workspace=workspace, platform=platform, connector=connector, **kwargs)


def create_contact(workspace: Workspace, phone: str | None = None, email: str | None = None, **kwargs) -> Contact:
    contact = Contact.objects.create(workspace=workspace, **kwargs)
    if phone:
        ContactIdentifier.objects.create(workspace=workspace, contact=contact, key="phonenumber", value=phone)
    if email:
        ContactIdentifier.objects.create(workspace=workspace, contact=contact, key="emailaddress", value=email)
    return contact


def create_message(channel: Channel, contact: Contact | None = None, text: str = "hello", **kwargs) -> Message:
    kwargs.setdefault("body", {"type": "text", "text": {"text": text}})
    kwargs.setdefault("validity", channel.default_validity)
    msg = Message.objects.create(workspace=channel.workspace, channel=channel, contact=contact, **kwargs)
    if contact:
        msg.contacts.add(contact)
    return msg


def create_user(username: str | None = None, workspace: Workspace | None = None, role: str = Role.ADMIN, **kwargs):
    User = get_user_model()
    user = User.objects.create_user(username=username or f"user{next(_seq)}", password="pw-123456789", **kwargs)
    if workspace is not None:
        Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def create_endpoint(channel: Channel, name: str | None = None) -> tuple[MessagingEndpoint, str]:
    endpoint = MessagingEndpoint(channel=channel, name=name or f"phone {next(_seq)}")
    token = endpoint.set_token()
    endpoint.save()
    return endpoint, token


def create_service(workspace: Workspace, name: str | None = None, **kwargs) -> tuple[Service, str]:
    service = Service(workspace=workspace, name=name or f"service {next(_seq)}", **kwargs)
    key = service.set_token()
    service.save()
    return service, key


def create_app_user(workspace: Workspace, username: str | None = None, password: str = "secret-pw", **kwargs) -> AppUser:
    user = AppUser(workspace=workspace, username=username or f"app{next(_seq)}", **kwargs)
    user.set_password(password)
    user.save()
    return user
