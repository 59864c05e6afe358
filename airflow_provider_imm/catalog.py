"""The catalog of IMM's asynchronous Create*Task operations.

Every other module (operator, trigger, sensor, emulator, lineage) reads this one table; nothing else
hard-codes an action. The mapping from action to TaskType is not mechanical (see
``CreateFigureClusteringTask`` -> ``FaceClustering``), hence the explicit column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Fields that every Create*Task request carries besides its own (``UserData`` is not one of them:
#: the SDK's CreateDecodeBlindWatermarkTaskRequest has none, and would drop it without a word).
COMMON_FIELDS: frozenset[str] = frozenset({"ProjectName", "Notification"})

#: Request fields holding a secret (a document's or an archive's password): never logged, shown in a
#: message, hashed into a tag IMM echoes, or echoed back by the emulator.
SECRET_FIELDS: frozenset[str] = frozenset({"Password"})

#: TargetURI template variables derived from the source object, offered by every operation.
BASE_TEMPLATE_VARIABLES: frozenset[str] = frozenset(
    {
        "bucket", "key", "dirname", "basename", "barename", "ext",
        "year", "mon", "day", "hour", "min", "sec",
        "t_year", "t_mon", "t_day", "t_hour", "t_min", "t_sec",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TaskOperation:
    """One asynchronous IMM operation and what the provider needs to know about it."""

    action: str
    task_type: str
    fields: frozenset[str]
    #: Each entry is a group of alternatives; at least one field of every group is required.
    required: tuple[tuple[str, ...], ...] = ()
    #: Field paths holding source OSS URIs; ``Sources[].URI`` means the URI of every list item.
    source_paths: tuple[str, ...] = ()
    #: Field paths holding target OSS URIs or TargetURI templates.
    target_paths: tuple[str, ...] = ()
    #: Target paths naming a folder IMM writes into: the objects there are named by IMM, and the
    #: bucket's root (``oss://bucket/``) is a valid value.
    folder_targets: frozenset[str] = frozenset()
    #: Template variables this operation adds to :data:`BASE_TEMPLATE_VARIABLES`.
    extra_template_variables: frozenset[str] = field(default_factory=frozenset)
    #: True when the TaskType above is inferred from the action name, not seen on the service.
    task_type_unverified: bool = False

    @property
    def has_tags(self) -> bool:
        return "Tags" in self.fields

    @property
    def has_user_data(self) -> bool:
        """Whether the SDK sends ``UserData`` for this action (echoed in the notification)."""
        return "UserData" in self.fields

    @property
    def sdk_method(self) -> str:
        """The ``alibabacloud_imm20200930`` client method, e.g. ``create_media_convert_task``."""
        return _SDK_METHOD_EXCEPTIONS.get(self.action, _snake(self.action))

    @property
    def request_model(self) -> str:
        """Name of the SDK request model in ``alibabacloud_imm20200930.models``."""
        return f"{self.action}Request"

    @property
    def template_variables(self) -> frozenset[str]:
        return BASE_TEMPLATE_VARIABLES | self.extra_template_variables

    @property
    def all_fields(self) -> frozenset[str]:
        return self.fields | COMMON_FIELDS


_SDK_METHOD_EXCEPTIONS = {"CreateImageToPDFTask": "create_image_to_pdftask"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _op(
    action: str,
    task_type: str,
    fields: str,
    *,
    required: tuple[tuple[str, ...], ...] = (),
    sources: tuple[str, ...] = (),
    targets: tuple[str, ...] = (),
    folders: tuple[str, ...] = (),
    extra_vars: frozenset[str] = frozenset(),
    unverified: bool = False,
) -> TaskOperation:
    return TaskOperation(
        action=action,
        task_type=task_type,
        fields=frozenset(fields.split()),
        required=required,
        source_paths=sources,
        target_paths=targets,
        folder_targets=frozenset(folders),
        extra_template_variables=extra_vars,
        task_type_unverified=unverified,
    )


_OPERATIONS = (
    _op(
        "CreateOfficeConversionTask",
        "OfficeConversion",
        "CredentialConfig EndPage FirstPage FitToHeight FitToWidth HoldLineFeed ImageDPI LongPicture"
        " LongText MaxSheetColumn MaxSheetRow Pages PaperHorizontal PaperSize Password Quality"
        " ScalePercentage SheetCount SheetIndex ShowComments SourceType SourceURI Sources StartPage"
        " Tags TargetType TargetURI TargetURIPrefix TrimPolicy UserData",
        required=(("SourceURI", "Sources"), ("TargetType",), ("TargetURI", "TargetURIPrefix")),
        sources=("SourceURI", "Sources[].URI"),
        targets=("TargetURI", "TargetURIPrefix"),
        folders=("TargetURIPrefix",),
        extra_vars=frozenset({"index", "sheetname", "autoext"}),
    ),
    _op(
        "CreateMediaConvertTask",
        "MediaConvert",
        "AlignmentIndex CredentialConfig Sources Tags TargetGroups Targets UserData",
        required=(("Sources",), ("Targets", "TargetGroups")),
        sources=("Sources[].URI",),
        targets=("Targets[].URI", "TargetGroups[].URI"),
        extra_vars=frozenset({"streamindex", "index", "resolution", "autoext"}),
    ),
    _op(
        "CreateFileCompressionTask",
        "FileCompression",
        "CompressedFormat CredentialConfig SourceManifestURI Sources TargetURI UserData",
        required=(("Sources", "SourceManifestURI"), ("TargetURI",)),
        sources=("Sources[].URI", "SourceManifestURI"),
        targets=("TargetURI",),
    ),
    _op(
        "CreateFileUncompressionTask",
        "FileUncompression",
        "CredentialConfig Password SelectedFiles SourceURI TargetURI UserData",
        required=(("SourceURI",), ("TargetURI",)),
        sources=("SourceURI",),
        targets=("TargetURI",),
        folders=("TargetURI",),
    ),
    _op(
        "CreateArchiveFileInspectionTask",
        "ArchiveFileInspection",
        "CredentialConfig Password SourceURI UserData",
        required=(("SourceURI",),),
        sources=("SourceURI",),
    ),
    _op(
        "CreateImageToPDFTask",
        "ImageToPDF",
        "CredentialConfig Sources Tags TargetURI UserData",
        required=(("Sources",), ("TargetURI",)),
        sources=("Sources[].URI",),
        targets=("TargetURI",),
    ),
    _op(
        "CreateImageSplicingTask",
        "ImageSplicing",
        "Align BackgroundColor CredentialConfig Direction ImageFormat Margin Padding Quality ScaleType"
        " Sources Tags TargetURI UserData",
        required=(("Sources",), ("TargetURI",)),
        sources=("Sources[].URI",),
        targets=("TargetURI",),
    ),
    _op(
        "CreateImageModerationTask",
        "ImageModeration",
        "CredentialConfig Interval MaxFrames Scenes SourceURI Tags UserData",
        required=(("SourceURI",),),
        sources=("SourceURI",),
    ),
    _op(
        "CreateVideoModerationTask",
        "VideoModeration",
        "CredentialConfig Interval MaxFrames Scenes SourceURI Tags UserData",
        required=(("SourceURI",),),
        sources=("SourceURI",),
    ),
    _op(
        "CreateVideoLabelClassificationTask",
        "VideoLabelClassification",
        "CredentialConfig SourceURI Tags UserData",
        required=(("SourceURI",),),
        sources=("SourceURI",),
    ),
    _op(
        "CreateFigureClusteringTask",
        "FaceClustering",
        "DatasetName Tags UserData",
        required=(("DatasetName",),),
    ),
    _op(
        "CreateCompressPointCloudTask",
        "PointCloudCompress",
        "CompressMethod CredentialConfig KdtreeOption OctreeOption PointCloudFields PointCloudFileFormat"
        " SourceURI Tags TargetURI UserData",
        required=(("SourceURI",), ("TargetURI",)),
        sources=("SourceURI",),
        targets=("TargetURI",),
    ),
    _op(
        "CreateLocationDateClusteringTask",
        "LocationDateClustering",
        "DatasetName DateOptions LocationOptions Tags UserData",
        required=(("DatasetName",), ("DateOptions",), ("LocationOptions",)),
    ),
    _op(
        "CreateFacesSearchingTask",
        "FacesSearching",
        "DatasetName MaxResult Sources UserData",
        required=(("DatasetName",),),
        sources=("Sources[].URI",),
    ),
    _op(
        "CreateSimilarImageClusteringTask",
        "SimilarImageClustering",
        "DatasetName Tags UserData",
        required=(("DatasetName",),),
        unverified=True,
    ),
    _op(
        "CreateFigureClustersMergingTask",
        "FigureClustersMerging",
        "DatasetName From Froms Tags To UserData",
        required=(("DatasetName",), ("To",), ("From", "Froms")),
        unverified=True,
    ),
    _op(
        "CreateHighlightTask",
        "Highlight",
        "CredentialConfig Edit Highlight Mode Output Sources Tags Type UserData",
        required=(("Sources",),),
        sources=("Sources[].URI",),
        unverified=True,
    ),
    _op(
        "CreateDecodeBlindWatermarkTask",
        "DecodeBlindWatermark",
        "ImageQuality Model OriginalImageURI SourceURI StrengthLevel TargetURI WatermarkType",
        required=(("SourceURI",), ("TargetURI",)),
        sources=("SourceURI", "OriginalImageURI"),
        targets=("TargetURI",),
        unverified=True,
    ),
)

#: Every operation by its action name (``CreateOfficeConversionTask``).
OPERATIONS: Mapping[str, TaskOperation] = {op.action: op for op in _OPERATIONS}
#: Every operation by its TaskType (``OfficeConversion``).
BY_TASK_TYPE: Mapping[str, TaskOperation] = {op.task_type: op for op in _OPERATIONS}


class UnknownActionError(ValueError):
    """The action is not one of IMM's asynchronous Create*Task operations."""


def get_operation(action: str) -> TaskOperation:
    """Look up an operation by action (``CreateMediaConvertTask``) or TaskType (``MediaConvert``)."""
    op = OPERATIONS.get(action) or BY_TASK_TYPE.get(action)
    if op is None:
        import difflib

        names = list(OPERATIONS) + list(BY_TASK_TYPE)
        close = difflib.get_close_matches(action, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownActionError(
            f"action {action!r} is not an IMM asynchronous task operation.{hint} "
            f"Valid actions: {', '.join(sorted(OPERATIONS))}."
        )
    return op


def located_values(request: Mapping[str, Any], path: str) -> list[tuple[str, Any, Mapping[str, Any]]]:
    """Values at a field path of this catalog (``SourceURI``, ``Sources[].URI``,
    ``Notification.ExtendedMessageURI``): each with its concrete path (``Sources[0].URI``) and the
    object holding it. Absent values, and steps through anything but objects and lists, are skipped."""
    nodes: list[tuple[str, Any, Any]] = [("", request, None)]
    for step in path.split("."):
        name, is_list = step.removesuffix("[]"), step.endswith("[]")
        found: list[tuple[str, Any, Any]] = []
        for where, node, _holder in nodes:
            if not isinstance(node, Mapping) or node.get(name) is None:
                continue
            here = f"{where}.{name}" if where else name
            child = node[name]
            if not is_list:
                found.append((here, child, node))
            elif isinstance(child, list | tuple):
                found.extend((f"{here}[{index}]", item, child) for index, item in enumerate(child))
        nodes = found
    return nodes


def values_at(request: Mapping[str, Any], path: str) -> list[tuple[Any, Mapping[str, Any]]]:
    """:func:`located_values` without the concrete paths."""
    return [(value, holder) for _where, value, holder in located_values(request, path)]
