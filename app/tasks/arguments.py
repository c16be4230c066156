"""Each task's name and arguments, declared once.

The worker validates every message against its task's model before the task runs
(app.tasks.base.MatchbotTask), and the API validates a request with the same model before it
queues anything (app.api.tasks), so a limit changes in one place: the model here, or the setting
it reads. Limits that are settings (MAX_MATCH_ITEMS, MAX_TEXT_LENGTH, MAX_ROWS) come from the
`settings` in the validation context: `Model.check(data, settings)`.

Arguments travel as plain keyword arguments (`send_task(name, kwargs={...})`), as before: a
publisher that predates these models sends the same messages.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)

from app.core.config import Settings

MAX_OPERANDS = 10_000
MAX_STEPS = 100_000
REPORT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class InvalidArguments(ValueError):  # noqa: N818 - reads as "raise InvalidArguments(...)"
    """Arguments a task refuses; names each bad field and what is wrong, never the value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in problems))


def _settings(info: ValidationInfo) -> Settings:
    context = info.context or {}
    settings = context.get("settings")
    if not isinstance(settings, Settings):
        raise TypeError("validate task arguments with TaskArguments.check(data, settings)")
    return settings


def _texts_within_limits(values: list[str], info: ValidationInfo) -> list[str]:
    settings = _settings(info)
    if len(values) > settings.max_match_items:
        raise ValueError(f"must hold 1 to {settings.max_match_items} strings, got {len(values)}")
    for index, value in enumerate(values):
        if len(value) > settings.max_text_length:
            raise ValueError(f"item {index} is longer than {settings.max_text_length} characters")
    return values


def _rows_within_limit(rows: list[dict[str, Any]], info: ValidationInfo) -> list[dict[str, Any]]:
    limit = _settings(info).max_rows
    if len(rows) > limit:
        raise ValueError(f"must hold 1 to {limit} rows, got {len(rows)}")
    return rows


Texts = Annotated[list[str], Field(min_length=1), AfterValidator(_texts_within_limits)]
Cell = str | int | float | bool | None
Rows = Annotated[list[dict[str, Cell]], Field(min_length=1), AfterValidator(_rows_within_limit)]


class TaskArguments(BaseModel):
    """The arguments of one task (`TASK`): exact types, no unknown names, input never quoted
    back in errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)
    TASK: ClassVar[str]

    @classmethod
    def check(cls, data: Any, settings: Settings) -> dict[str, Any]:
        """The validated arguments as keyword arguments (defaults filled in), or
        InvalidArguments naming every problem."""
        if not isinstance(data, dict):
            raise InvalidArguments([("arguments", "must be given by name")])
        try:
            return cls.model_validate(data, context={"settings": settings}).model_dump()
        except ValidationError as error:
            raise InvalidArguments(problems(error)) from None


def problems(error: ValidationError) -> list[tuple[str, str]]:
    """(field, what is wrong) per problem; `field` as `records[3]` or `rows[0].name`."""
    found = []
    for item in error.errors(include_input=False, include_url=False):
        field = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]
        ).lstrip(".")
        found.append((field or "arguments", item["msg"].removeprefix("Value error, ")))
    return found


class NoArguments(TaskArguments):
    TASK = ""


class CheckRedis(NoArguments):
    TASK = "app.tasks.health.check_redis"


class Canary(NoArguments):
    TASK = "app.tasks.health.canary"


class Arithmetic(TaskArguments):
    TASK = "app.tasks.health.arithmetic"
    operation: Literal["sum", "product", "min", "max"]
    operands: list[float] = Field(min_length=1, max_length=MAX_OPERANDS)


class LongRunning(TaskArguments):
    TASK = "app.tasks.health.long_running"
    total_steps: int = Field(ge=1, le=MAX_STEPS)
    step_seconds: float = Field(default=1.0, ge=0, le=60)


class RetryProbe(TaskArguments):
    TASK = "app.tasks.health.retry_probe"
    probe_id: str = Field(min_length=1, max_length=100)
    failures: int = Field(ge=0, le=10)


class Tally(TaskArguments):
    TASK = "app.tasks.health.tally"
    batch: str = Field(min_length=1, max_length=100)
    index: int = Field(ge=0)
    hold_seconds: float = Field(default=0.0, ge=0, le=10)


class ParseUpload(TaskArguments):
    TASK = "app.tasks.files.parse_upload"
    path: str = Field(min_length=1, max_length=255)


class FuzzyMatch(TaskArguments):
    TASK = "app.tasks.matching.fuzzy_match"
    records: Texts
    candidates: Texts
    threshold: float = Field(default=80.0, ge=0, le=100)


class Report(TaskArguments):
    TASK = "app.tasks.reports.generate_report"
    name: str = Field(pattern=REPORT_NAME)
    rows: Rows
    fmt: Literal["csv", "xlsx"] = "csv"


class Cleanup(TaskArguments):
    TASK = "app.tasks.cleanup.cleanup_expired"
    max_age_seconds: int | None = Field(default=None, ge=0)
