"""A minimal valid request for each of the 18 Create*Task actions, the objects it reads and those it writes.

The emulator's, the operator's and the validation tests send the same requests, so a change to the
catalog is met in one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.oss_objects import put_object, zip_bytes

if TYPE_CHECKING:
    from airflow_provider_imm.emulator import ImmEmulator

DOC = "oss://in-bucket/docs/report.docx"
VIDEO = "oss://in-bucket/video/clip.mov"
PHOTO = "oss://in-bucket/images/photo.jpg"
LOGO = "oss://in-bucket/images/logo.png"
CLOUD = "oss://in-bucket/cloud/scan.pcd"
BUNDLE = "oss://in-bucket/archive/bundle.zip"
BUNDLE_FILES = {"readme.txt": b"read me\n", "data/values.csv": b"a,b\n1,2\n"}


@dataclass(frozen=True)
class MinimalRequest:
    request: dict[str, Any]
    #: The objects the task leaves in OSS, named as IMM names them.
    written: list[str] = field(default_factory=list)
    #: False where IMM, not the request, decides the names: a folder target, or ``{barename}`` with
    #: several sources (which one names the output is IMM's choice).
    named_by_request: bool = True

    @property
    def named(self) -> list[str]:
        """The outputs the request alone fixes: what the operator reports as ``output_uris``."""
        return self.written if self.named_by_request else []


MINIMAL: dict[str, MinimalRequest] = {
    "CreateOfficeConversionTask": MinimalRequest(
        {"SourceURI": DOC, "TargetType": "pdf", "TargetURI": "oss://out-bucket/office/{barename}.{autoext}"},
        ["oss://out-bucket/office/report.pdf"],
    ),
    "CreateMediaConvertTask": MinimalRequest(
        {
            "Sources": [{"URI": VIDEO}],
            "Targets": [{"URI": "oss://out-bucket/media/{barename}.{autoext}", "Container": "mp4"}],
        },
        ["oss://out-bucket/media/clip.mp4"],
    ),
    "CreateFileCompressionTask": MinimalRequest(
        {"Sources": [{"URI": DOC}, {"URI": PHOTO}], "TargetURI": "oss://out-bucket/zip/bundle.zip"},
        ["oss://out-bucket/zip/bundle.zip"],
    ),
    "CreateFileUncompressionTask": MinimalRequest(
        {"SourceURI": BUNDLE, "TargetURI": "oss://out-bucket/unzipped/"},
        ["oss://out-bucket/unzipped/readme.txt", "oss://out-bucket/unzipped/data/values.csv"],
        named_by_request=False,
    ),
    "CreateArchiveFileInspectionTask": MinimalRequest({"SourceURI": BUNDLE}),
    "CreateImageToPDFTask": MinimalRequest(
        {"Sources": [{"URI": PHOTO}, {"URI": LOGO}], "TargetURI": "oss://out-bucket/pdf/{barename}.pdf"},
        ["oss://out-bucket/pdf/photo.pdf"],
        named_by_request=False,
    ),
    "CreateImageSplicingTask": MinimalRequest(
        {
            "Sources": [{"URI": PHOTO}, {"URI": LOGO}],
            "TargetURI": "oss://out-bucket/spliced/{barename}-long.jpg",
        },
        ["oss://out-bucket/spliced/photo-long.jpg"],
        named_by_request=False,
    ),
    "CreateImageModerationTask": MinimalRequest({"SourceURI": PHOTO}),
    "CreateVideoModerationTask": MinimalRequest({"SourceURI": VIDEO}),
    "CreateVideoLabelClassificationTask": MinimalRequest({"SourceURI": VIDEO}),
    "CreateFigureClusteringTask": MinimalRequest({"DatasetName": "faces"}),
    "CreateCompressPointCloudTask": MinimalRequest(
        {"SourceURI": CLOUD, "TargetURI": "oss://out-bucket/cloud/{barename}.bin"},
        ["oss://out-bucket/cloud/scan.bin"],
    ),
    "CreateLocationDateClusteringTask": MinimalRequest(
        {
            "DatasetName": "photos",
            "DateOptions": {"GapDays": 1, "MaxDays": 7, "MinDays": 1},
            "LocationOptions": {"LocationDateClusterLevels": ["city"]},
        }
    ),
    "CreateFacesSearchingTask": MinimalRequest({"DatasetName": "faces", "Sources": [{"URI": PHOTO}]}),
    "CreateSimilarImageClusteringTask": MinimalRequest({"DatasetName": "photos"}),
    "CreateFigureClustersMergingTask": MinimalRequest(
        {"DatasetName": "faces", "From": "Cluster-a", "To": "Cluster-b"}
    ),
    "CreateHighlightTask": MinimalRequest({"Sources": [{"URI": VIDEO}]}),
    "CreateDecodeBlindWatermarkTask": MinimalRequest(
        {"SourceURI": PHOTO, "TargetURI": "oss://out-bucket/watermark/{barename}.png"},
        ["oss://out-bucket/watermark/photo.png"],
    ),
}


def put_sources(emulator: ImmEmulator) -> None:
    """Store every object the minimal requests read."""
    for uri in (DOC, VIDEO, PHOTO, LOGO, CLOUD):
        put_object(emulator, uri, f"content of {uri}".encode())
    put_object(emulator, BUNDLE, zip_bytes(BUNDLE_FILES))
