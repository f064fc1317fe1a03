"""How `make up` and `python -m tools local-login` set a stack's config on kubeport-node: every step checked,
and a secret only ever on standard input."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.localcluster.localstack import configure
from tools.processes import Done

PLAIN = {"kubeport:registryUser": "kubeport", "kubeport:baseImage": "10.250.0.1:5443/kubeport/standin@sha256:ab"}
SECRET = {"kubeport:registryToken": "push-password-1", "kubeport:registryPullToken": "pull-password-2"}


@dataclass
class FakePulumi:
    """Answers each `pulumi` call with exit 0, or `failing` for the call whose arguments start with `fail_on`."""

    fail_on: tuple[str, ...] = ()
    calls: list[tuple[tuple[str, ...], str | None]] = field(default_factory=list)

    def __call__(self, *args: str, stream: bool = False, timeout: float = 120, input_text: str | None = None) -> Done:
        self.calls.append((args, input_text))
        failed = bool(self.fail_on) and args[: len(self.fail_on)] == self.fail_on
        return Done(("pulumi", *args), 1 if failed else 0, "", "error: no such thing" if failed else "", 0.1)


def test_a_stack_gets_its_plain_keys_on_the_command_line_and_its_secrets_on_stdin_only() -> None:
    pulumi = FakePulumi()
    assert configure(pulumi, "mine", PLAIN, SECRET) is None
    commands = [args for args, _ in pulumi.calls]
    assert commands[0] == ("stack", "select", "--create", "mine")
    assert [("config", "set", k, v, "--stack", "mine") for k, v in PLAIN.items()] == commands[1:3]
    secrets = [(args, given) for args, given in pulumi.calls if "--secret" in args]
    assert [(args[3], given) for args, given in secrets] == list(SECRET.items())
    # No secret on any command line (any local user's `ps` reads those).
    assert not [args for args, _ in pulumi.calls if any(v in " ".join(args) for v in SECRET.values())]


def test_the_first_failing_step_stops_it_and_is_named_without_the_secret() -> None:
    pulumi = FakePulumi(fail_on=("stack", "select"))
    failed = configure(pulumi, "mine", PLAIN, SECRET)
    assert failed is not None and "stack select --create mine" in failed and len(pulumi.calls) == 1
    pulumi = FakePulumi(fail_on=("config", "set", "--secret", "kubeport:registryToken"))
    failed = configure(pulumi, "mine", PLAIN, SECRET)
    assert failed is not None and "kubeport:registryToken" in failed and "no such thing" in failed
    assert not any(v in failed for v in SECRET.values())
    assert len(pulumi.calls) == 1 + len(PLAIN) + 1, "nothing after the failed step"
