"""The IMAP half of the embedded mail servers (``mail.embedded``): pymap's maildir backend,
adjusted to behave as the desk expects from Dovecot.

Place in the flow: only ``mailbot demo`` runs it, through
:class:`mailbot.mail.embedded.EmbeddedMailServer`.  Importing this module
makes pymap write its metadata files atomically beside their target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from argparse import Namespace
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

from pymap.backend.maildir import Config as MaildirConfig
from pymap.backend.maildir import Identity, Login
from pymap.backend.maildir import Session as MaildirSession
from pymap.backend.maildir.io import FileWriteable
from pymap.backend.maildir.mailbox import Message as MaildirMessage
from pymap.concurrent import Event
from pymap.interfaces.login import IdentityInterface
from pymap.parsing.specials import SearchKey
from pymap.selected import SelectedMailbox

#: How the servers name themselves (IMAP greeting, Received headers, thread names).
SERVER_NAME: Final = "mailbot-embedded"


def _atomic_file_write(self: FileWriteable) -> None:
    """pymap's ``file_write``, with the temporary file beside its target.

    pymap writes its metadata files (``dovecot-uidlist``, users, flags) to a
    temporary file in the system temp directory and then renames it into the
    maildir; that rename fails with ``EXDEV`` whenever ``/tmp`` is another
    file system than the data directory (a tmpfs ``/tmp`` is common).
    Creating the temporary file in the target's directory keeps the rename
    atomic and on one file system.
    """
    file_path = self.get_file(self.path)
    directory = os.path.dirname(file_path) or "."
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as tmp:
            self.write(tmp)
        os.replace(tmp_name, file_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    self._touched = False


FileWriteable.file_write = _atomic_file_write  # type: ignore[method-assign]


class QuietConfig(MaildirConfig):
    """pymap's maildir config with a fixed greeting (no reverse DNS lookup)."""

    @property
    def greeting(self) -> bytes:
        return b"Server ready " + SERVER_NAME.encode("ascii")


class NewMail:
    """Wakes the IDLE sessions of a user the moment mail is delivered to them."""

    def __init__(self) -> None:
        self._events: dict[str, Event] = {}

    def event(self, user: str) -> Event:
        """The event the next delivery to *user* will set."""
        event = self._events.get(user)
        if event is None:
            event = self._events[user] = Event.for_asyncio()
        return event

    def announce(self, user: str) -> None:
        event = self._events.pop(user, None)
        if event is not None:
            event.set()


class DeskSession(MaildirSession):
    """pymap's maildir session, closer to what Dovecot does for the desk.

    * IDLE: pymap re-reads the idling mailbox once a second; here it also
      wakes as soon as this server delivers mail to the user.
    * SEARCH: pymap searches the messages the client has already been told
      about, so a poll that only searches would never see new mail; here the
      mailbox is re-read first (the new messages are announced by EXISTS
      with the search result, as Dovecot does).
    """

    def __init__(self, session: MaildirSession, new_mail: NewMail) -> None:
        super().__init__(session.owner, session.config, session.mailbox_set, session.filter_set)
        self._new_mail = new_mail

    async def check_mailbox(
        self,
        selected: SelectedMailbox,
        *,
        wait_on: Event | None = None,
        housekeeping: bool = False,
    ) -> SelectedMailbox:
        if wait_on is not None and not wait_on.is_set():
            either = wait_on.or_event(self._new_mail.event(self.owner))
            await either.wait(timeout=1.0)
        return await super().check_mailbox(selected, housekeeping=housekeeping)

    async def search_mailbox(
        self, selected: SelectedMailbox, keys: frozenset[SearchKey]
    ) -> tuple[Iterable[tuple[int, MaildirMessage]], SelectedMailbox]:
        selected = await super().check_mailbox(selected)
        return await super().search_mailbox(selected, keys)


class DeskIdentity(Identity):
    """A maildir identity whose sessions are :class:`DeskSession`."""

    def __init__(self, config: MaildirConfig, login: DeskLogin, name: str, roles: Any) -> None:
        super().__init__(config, login.tokens, name, None, roles)
        self._new_mail = login.new_mail

    @contextlib.asynccontextmanager
    async def new_session(self) -> AsyncIterator[DeskSession]:
        async with super().new_session() as session:
            yield DeskSession(session, self._new_mail)


class DeskLogin(Login):
    """pymap's maildir login, handing out :class:`DeskIdentity` objects."""

    def __init__(self, config: MaildirConfig, new_mail: NewMail) -> None:
        super().__init__(config)
        self.new_mail = new_mail

    async def authorize(self, authenticated: IdentityInterface, authzid: str) -> DeskIdentity:
        identity = await super().authorize(authenticated, authzid)
        return DeskIdentity(self.config, self, identity.name, identity.roles)


def pymap_args() -> Namespace:
    """The few command-line attributes pymap's config reads outside its own CLI."""
    return Namespace(passlib_cfg=None, proxy_protocol=None, inherited_sockets=None)
