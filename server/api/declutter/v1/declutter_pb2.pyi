from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Label(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_UNSPECIFIED: _ClassVar[Label]
    BODY: _ClassVar[Label]
    NAVIGATION: _ClassVar[Label]
    AD: _ClassVar[Label]
    DISCLAIMER: _ClassVar[Label]
    RELATED_LINKS: _ClassVar[Label]
LABEL_UNSPECIFIED: Label
BODY: Label
NAVIGATION: Label
AD: Label
DISCLAIMER: Label
RELATED_LINKS: Label

class Document(_message.Message):
    __slots__ = ("format", "content", "raw", "id", "url")
    class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FORMAT_UNSPECIFIED: _ClassVar[Document.Format]
        PLAIN_TEXT: _ClassVar[Document.Format]
        HTML: _ClassVar[Document.Format]
    FORMAT_UNSPECIFIED: Document.Format
    PLAIN_TEXT: Document.Format
    HTML: Document.Format
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    format: Document.Format
    content: str
    raw: bytes
    id: str
    url: str
    def __init__(self, format: _Optional[_Union[Document.Format, str]] = ..., content: _Optional[str] = ..., raw: _Optional[bytes] = ..., id: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class CleanRequest(_message.Message):
    __slots__ = ("document", "include_lines")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LINES_FIELD_NUMBER: _ClassVar[int]
    document: Document
    include_lines: bool
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., include_lines: _Optional[bool] = ...) -> None: ...

class Line(_message.Message):
    __slots__ = ("number", "text", "label", "confidence")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    number: int
    text: str
    label: Label
    confidence: float
    def __init__(self, number: _Optional[int] = ..., text: _Optional[str] = ..., label: _Optional[_Union[Label, str]] = ..., confidence: _Optional[float] = ...) -> None: ...

class CleanResponse(_message.Message):
    __slots__ = ("id", "body", "lines", "model_version", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    body: str
    lines: _containers.RepeatedCompositeFieldContainer[Line]
    model_version: str
    error: Error
    def __init__(self, id: _Optional[str] = ..., body: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[Line, _Mapping]]] = ..., model_version: _Optional[str] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Metric(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("version", "labels", "trained_at", "training_data", "metrics", "package_version", "sha256")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TRAINED_AT_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    version: str
    labels: _containers.RepeatedScalarFieldContainer[Label]
    trained_at: str
    training_data: str
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    package_version: str
    sha256: str
    def __init__(self, version: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, str]]] = ..., trained_at: _Optional[str] = ..., training_data: _Optional[str] = ..., metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ..., package_version: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...
