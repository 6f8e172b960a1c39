import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ColumnKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLUMN_KIND_UNSPECIFIED: _ClassVar[ColumnKind]
    COLUMN_KIND_MONTH: _ClassVar[ColumnKind]
    COLUMN_KIND_QUARTER: _ClassVar[ColumnKind]
    COLUMN_KIND_YEAR: _ClassVar[ColumnKind]
    COLUMN_KIND_TOTAL: _ClassVar[ColumnKind]

class UpdateMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPDATE_MODE_UNSPECIFIED: _ClassVar[UpdateMode]
    UPDATE_MODE_SET: _ClassVar[UpdateMode]
    UPDATE_MODE_ADD: _ClassVar[UpdateMode]
    UPDATE_MODE_PERCENT: _ClassVar[UpdateMode]

class SpreadMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPREAD_METHOD_UNSPECIFIED: _ClassVar[SpreadMethod]
    SPREAD_METHOD_PROPORTIONAL: _ClassVar[SpreadMethod]
    SPREAD_METHOD_EQUAL: _ClassVar[SpreadMethod]
COLUMN_KIND_UNSPECIFIED: ColumnKind
COLUMN_KIND_MONTH: ColumnKind
COLUMN_KIND_QUARTER: ColumnKind
COLUMN_KIND_YEAR: ColumnKind
COLUMN_KIND_TOTAL: ColumnKind
UPDATE_MODE_UNSPECIFIED: UpdateMode
UPDATE_MODE_SET: UpdateMode
UPDATE_MODE_ADD: UpdateMode
UPDATE_MODE_PERCENT: UpdateMode
SPREAD_METHOD_UNSPECIFIED: SpreadMethod
SPREAD_METHOD_PROPORTIONAL: SpreadMethod
SPREAD_METHOD_EQUAL: SpreadMethod

class Sheet(_message.Message):
    __slots__ = ("name", "display_name", "row_levels", "columns", "measures", "row_count", "filters")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROW_LEVELS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    row_levels: _containers.RepeatedCompositeFieldContainer[Level]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    measures: _containers.RepeatedCompositeFieldContainer[Measure]
    row_count: int
    filters: _containers.RepeatedCompositeFieldContainer[SheetFilter]
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., row_levels: _Optional[_Iterable[_Union[Level, _Mapping]]] = ..., columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., measures: _Optional[_Iterable[_Union[Measure, _Mapping]]] = ..., row_count: _Optional[int] = ..., filters: _Optional[_Iterable[_Union[SheetFilter, _Mapping]]] = ...) -> None: ...

class SheetFilter(_message.Message):
    __slots__ = ("dimension", "member")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    member: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dimension: _Optional[str] = ..., member: _Optional[_Iterable[str]] = ...) -> None: ...

class Level(_message.Message):
    __slots__ = ("name", "display_name", "member_count", "dimension")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    member_count: int
    dimension: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., member_count: _Optional[int] = ..., dimension: _Optional[str] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("key", "display_name", "total", "period_start", "period_end", "kind")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    key: str
    display_name: str
    total: bool
    period_start: str
    period_end: str
    kind: ColumnKind
    def __init__(self, key: _Optional[str] = ..., display_name: _Optional[str] = ..., total: _Optional[bool] = ..., period_start: _Optional[str] = ..., period_end: _Optional[str] = ..., kind: _Optional[_Union[ColumnKind, str]] = ...) -> None: ...

class Measure(_message.Message):
    __slots__ = ("name", "display_name", "scale", "min_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    scale: int
    min_value: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., scale: _Optional[int] = ..., min_value: _Optional[str] = ...) -> None: ...

class ListSheetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSheetsResponse(_message.Message):
    __slots__ = ("sheets", "next_page_token")
    SHEETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sheets: _containers.RepeatedCompositeFieldContainer[Sheet]
    next_page_token: str
    def __init__(self, sheets: _Optional[_Iterable[_Union[Sheet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSheetRequest(_message.Message):
    __slots__ = ("name", "row_path", "columns", "measures", "revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROW_PATH_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    row_path: _containers.RepeatedScalarFieldContainer[str]
    columns: _containers.RepeatedScalarFieldContainer[str]
    measures: _containers.RepeatedScalarFieldContainer[str]
    revision: int
    def __init__(self, name: _Optional[str] = ..., row_path: _Optional[_Iterable[str]] = ..., columns: _Optional[_Iterable[str]] = ..., measures: _Optional[_Iterable[str]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetSheetResponse(_message.Message):
    __slots__ = ("grid",)
    GRID_FIELD_NUMBER: _ClassVar[int]
    grid: Grid
    def __init__(self, grid: _Optional[_Union[Grid, _Mapping]] = ...) -> None: ...

class Grid(_message.Message):
    __slots__ = ("sheet", "revision", "columns", "rows")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    sheet: str
    revision: int
    columns: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    def __init__(self, sheet: _Optional[str] = ..., revision: _Optional[int] = ..., columns: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("path", "leaf", "measures", "caption")
    PATH_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    path: _containers.RepeatedScalarFieldContainer[str]
    leaf: bool
    measures: _containers.RepeatedCompositeFieldContainer[MeasureValues]
    caption: str
    def __init__(self, path: _Optional[_Iterable[str]] = ..., leaf: _Optional[bool] = ..., measures: _Optional[_Iterable[_Union[MeasureValues, _Mapping]]] = ..., caption: _Optional[str] = ...) -> None: ...

class MeasureValues(_message.Message):
    __slots__ = ("measure", "values")
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    measure: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, measure: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class CellRef(_message.Message):
    __slots__ = ("sheet", "row_path", "column", "measure")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    ROW_PATH_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    sheet: str
    row_path: _containers.RepeatedScalarFieldContainer[str]
    column: str
    measure: str
    def __init__(self, sheet: _Optional[str] = ..., row_path: _Optional[_Iterable[str]] = ..., column: _Optional[str] = ..., measure: _Optional[str] = ...) -> None: ...

class CellEdit(_message.Message):
    __slots__ = ("cell", "value", "mode", "spread", "holds", "expected_value")
    CELL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VALUE_FIELD_NUMBER: _ClassVar[int]
    cell: CellRef
    value: str
    mode: UpdateMode
    spread: SpreadMethod
    holds: _containers.RepeatedCompositeFieldContainer[CellRef]
    expected_value: str
    def __init__(self, cell: _Optional[_Union[CellRef, _Mapping]] = ..., value: _Optional[str] = ..., mode: _Optional[_Union[UpdateMode, str]] = ..., spread: _Optional[_Union[SpreadMethod, str]] = ..., holds: _Optional[_Iterable[_Union[CellRef, _Mapping]]] = ..., expected_value: _Optional[str] = ...) -> None: ...

class EditResult(_message.Message):
    __slots__ = ("previous_value", "new_value", "facts_changed")
    PREVIOUS_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    FACTS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    previous_value: str
    new_value: str
    facts_changed: int
    def __init__(self, previous_value: _Optional[str] = ..., new_value: _Optional[str] = ..., facts_changed: _Optional[int] = ...) -> None: ...

class SheetChanges(_message.Message):
    __slots__ = ("sheet", "cells")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    sheet: str
    cells: _containers.RepeatedCompositeFieldContainer[CellChange]
    def __init__(self, sheet: _Optional[str] = ..., cells: _Optional[_Iterable[_Union[CellChange, _Mapping]]] = ...) -> None: ...

class CellChange(_message.Message):
    __slots__ = ("row_path", "column", "measure", "value", "previous_value")
    ROW_PATH_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VALUE_FIELD_NUMBER: _ClassVar[int]
    row_path: _containers.RepeatedScalarFieldContainer[str]
    column: str
    measure: str
    value: str
    previous_value: str
    def __init__(self, row_path: _Optional[_Iterable[str]] = ..., column: _Optional[str] = ..., measure: _Optional[str] = ..., value: _Optional[str] = ..., previous_value: _Optional[str] = ...) -> None: ...

class UpdateCellRequest(_message.Message):
    __slots__ = ("edit", "request_id")
    EDIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    edit: CellEdit
    request_id: str
    def __init__(self, edit: _Optional[_Union[CellEdit, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateCellResponse(_message.Message):
    __slots__ = ("revision", "result", "changes")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    revision: int
    result: EditResult
    changes: _containers.RepeatedCompositeFieldContainer[SheetChanges]
    def __init__(self, revision: _Optional[int] = ..., result: _Optional[_Union[EditResult, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[SheetChanges, _Mapping]]] = ...) -> None: ...

class BatchUpdateCellsRequest(_message.Message):
    __slots__ = ("edits", "request_id")
    EDITS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    edits: _containers.RepeatedCompositeFieldContainer[CellEdit]
    request_id: str
    def __init__(self, edits: _Optional[_Iterable[_Union[CellEdit, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class BatchUpdateCellsResponse(_message.Message):
    __slots__ = ("revision", "results", "changes")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    revision: int
    results: _containers.RepeatedCompositeFieldContainer[EditResult]
    changes: _containers.RepeatedCompositeFieldContainer[SheetChanges]
    def __init__(self, revision: _Optional[int] = ..., results: _Optional[_Iterable[_Union[EditResult, _Mapping]]] = ..., changes: _Optional[_Iterable[_Union[SheetChanges, _Mapping]]] = ...) -> None: ...

class WatchUpdatesRequest(_message.Message):
    __slots__ = ("sheet", "row_path", "measures", "start_revision", "send_snapshot")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    ROW_PATH_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    SEND_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    sheet: str
    row_path: _containers.RepeatedScalarFieldContainer[str]
    measures: _containers.RepeatedScalarFieldContainer[str]
    start_revision: int
    send_snapshot: bool
    def __init__(self, sheet: _Optional[str] = ..., row_path: _Optional[_Iterable[str]] = ..., measures: _Optional[_Iterable[str]] = ..., start_revision: _Optional[int] = ..., send_snapshot: _Optional[bool] = ...) -> None: ...

class WatchUpdatesResponse(_message.Message):
    __slots__ = ("snapshot", "change", "progress")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    snapshot: Grid
    change: ChangeEvent
    progress: Progress
    def __init__(self, snapshot: _Optional[_Union[Grid, _Mapping]] = ..., change: _Optional[_Union[ChangeEvent, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ...) -> None: ...

class ChangeEvent(_message.Message):
    __slots__ = ("revision", "commit_time", "actor", "request_id", "edits", "results", "changes", "reverts_revision", "session_id")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    REVERTS_REVISION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    revision: int
    commit_time: _timestamp_pb2.Timestamp
    actor: str
    request_id: str
    edits: _containers.RepeatedCompositeFieldContainer[CellEdit]
    results: _containers.RepeatedCompositeFieldContainer[EditResult]
    changes: _containers.RepeatedCompositeFieldContainer[SheetChanges]
    reverts_revision: int
    session_id: str
    def __init__(self, revision: _Optional[int] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., request_id: _Optional[str] = ..., edits: _Optional[_Iterable[_Union[CellEdit, _Mapping]]] = ..., results: _Optional[_Iterable[_Union[EditResult, _Mapping]]] = ..., changes: _Optional[_Iterable[_Union[SheetChanges, _Mapping]]] = ..., reverts_revision: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class Revision(_message.Message):
    __slots__ = ("change", "reverted_by")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    REVERTED_BY_FIELD_NUMBER: _ClassVar[int]
    change: ChangeEvent
    reverted_by: int
    def __init__(self, change: _Optional[_Union[ChangeEvent, _Mapping]] = ..., reverted_by: _Optional[int] = ...) -> None: ...

class ListRevisionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "start_revision", "oldest_first", "sheet", "row_path", "column", "measure", "cell", "actor", "start_time", "end_time")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    OLDEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    SHEET_FIELD_NUMBER: _ClassVar[int]
    ROW_PATH_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    start_revision: int
    oldest_first: bool
    sheet: str
    row_path: _containers.RepeatedScalarFieldContainer[str]
    column: str
    measure: str
    cell: CellRef
    actor: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_revision: _Optional[int] = ..., oldest_first: _Optional[bool] = ..., sheet: _Optional[str] = ..., row_path: _Optional[_Iterable[str]] = ..., column: _Optional[str] = ..., measure: _Optional[str] = ..., cell: _Optional[_Union[CellRef, _Mapping]] = ..., actor: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRevisionsResponse(_message.Message):
    __slots__ = ("revisions", "next_page_token")
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    revisions: _containers.RepeatedCompositeFieldContainer[Revision]
    next_page_token: str
    def __init__(self, revisions: _Optional[_Iterable[_Union[Revision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRevisionRequest(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class GetRevisionResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: Revision
    def __init__(self, revision: _Optional[_Union[Revision, _Mapping]] = ...) -> None: ...

class RevertRevisionRequest(_message.Message):
    __slots__ = ("revision", "expected_head", "overwrite", "request_id")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_HEAD_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    revision: int
    expected_head: int
    overwrite: bool
    request_id: str
    def __init__(self, revision: _Optional[int] = ..., expected_head: _Optional[int] = ..., overwrite: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class RevertRevisionResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: Revision
    def __init__(self, revision: _Optional[_Union[Revision, _Mapping]] = ...) -> None: ...

class UndoRequest(_message.Message):
    __slots__ = ("session_id", "expected_head", "overwrite", "request_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_HEAD_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    expected_head: int
    overwrite: bool
    request_id: str
    def __init__(self, session_id: _Optional[str] = ..., expected_head: _Optional[int] = ..., overwrite: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class UndoResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: Revision
    def __init__(self, revision: _Optional[_Union[Revision, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("head_revision",)
    HEAD_REVISION_FIELD_NUMBER: _ClassVar[int]
    head_revision: int
    def __init__(self, head_revision: _Optional[int] = ...) -> None: ...
