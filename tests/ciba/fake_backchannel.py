"""A scriptable backchannel authenticator that counts its polls, for the core's own tests."""

from idp.authn import Authentication, Failure, FailureReason, Pending


class FakeBackchannel:
    acr_values = ("urn:test:acr:phone",)
    poll_interval = 2.0

    def __init__(self, clock):
        self.clock = clock
        self.started = {}  # request_id -> BackchannelRequest
        self.polls = {}  # request_id -> count
        self.cancelled = []
        self.outcomes = {}  # request_id -> Authentication | Failure
        self.start_failure = None

    def resolve_login_hint(self, login_hint):
        return f"test:{login_hint}" if login_hint.startswith("person-") else None

    async def start(self, request):
        if self.start_failure is not None:
            return self.start_failure
        self.started[request.request_id] = request
        self.polls[request.request_id] = 0
        return None

    async def poll(self, request_id):
        self.polls[request_id] += 1
        return self.outcomes.get(request_id, Pending())

    async def cancel(self, request_id):
        self.cancelled.append(request_id)

    def approve(self, request_id, **claims):
        req = self.started[request_id]
        self.outcomes[request_id] = Authentication(
            subject=req.subject,
            acr="urn:test:acr:phone",
            amr=("test",),
            auth_time=self.clock.now(),
            claims={"name": "Test Person", **claims},
        )

    def fail(self, request_id, reason=FailureReason.CANCELLED):
        self.outcomes[request_id] = Failure(reason)

    def only(self):
        (request_id,) = self.started
        return request_id
