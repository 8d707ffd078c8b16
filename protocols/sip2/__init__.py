"""SIP2 2.00, sans-I/O: messages, framing, checksums, dialects and connections.

Typical use on the ACS side (the gateway facing a kiosk)::

    conn = AcsConnection(dialect, ErrorDetection.AUTO)
    conn.receive_data(data)
    match conn.next_event():
        case MessageReceived(message=PatronStatusRequest() as request): ...
        case SendReply(data=reply): ...  # write it
        case NEED_DATA: ...              # read more

``encode`` and ``decode`` work on single frames for code that needs no state;
``encode_request`` writes a request once, before an SC connection is chosen to send it.
"""

from __future__ import annotations

from .checksum import checksum, checksum_ok, next_sequence
from .codec import DecodedFrame, decode, encode, split_trailer
from .connection import AcsConnection, EncodedRequest, ScConnection, encode_request
from .dialect import (
    DEFAULT_DIALECT,
    Charset,
    Dialect,
    ErrorDetection,
    Terminator,
    Unencodable,
    transliterate,
)
from .enums import (
    AlertType,
    CirculationStatus,
    FeeType,
    HoldMode,
    HoldType,
    Language,
    MediaType,
    PatronStatus,
    PaymentType,
    ScStatusCode,
    SecurityMarker,
    Summary,
    SupportedMessages,
)
from .errors import FrameError, LocalProtocolError, ProtocolError, RemoteProtocolError, ResponseHint
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionFailed,
    Event,
    FrameDiscarded,
    MessageReceived,
    Pending,
    ReplyCause,
    SendReply,
)
from .framing import DEFAULT_MAX_FRAME_SIZE, FrameBuffer
from .messages import (
    RESPONSE_CODES,
    AcsStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
)
from .redact import redact_frame
from .spec import SECRET_FIELD_IDS, Direction, Extensions, Message, MessageSpec
from .state import AcsState, ScState

__all__ = [
    "DEFAULT_DIALECT",
    "DEFAULT_MAX_FRAME_SIZE",
    "NEED_DATA",
    "PAUSED",
    "RESPONSE_CODES",
    "SECRET_FIELD_IDS",
    "AcsConnection",
    "AcsState",
    "AcsStatus",
    "AlertType",
    "BlockPatron",
    "Charset",
    "CheckinRequest",
    "CheckinResponse",
    "CheckoutRequest",
    "CheckoutResponse",
    "CirculationStatus",
    "ConnectionFailed",
    "DecodedFrame",
    "Dialect",
    "Direction",
    "EncodedRequest",
    "EndPatronSessionRequest",
    "EndSessionResponse",
    "ErrorDetection",
    "Event",
    "Extensions",
    "FeePaidRequest",
    "FeePaidResponse",
    "FeeType",
    "FrameBuffer",
    "FrameDiscarded",
    "FrameError",
    "HoldMode",
    "HoldRequest",
    "HoldResponse",
    "HoldType",
    "ItemInformationRequest",
    "ItemInformationResponse",
    "ItemStatusUpdateRequest",
    "ItemStatusUpdateResponse",
    "Language",
    "LocalProtocolError",
    "LoginRequest",
    "LoginResponse",
    "MediaType",
    "Message",
    "MessageReceived",
    "MessageSpec",
    "PatronEnableRequest",
    "PatronEnableResponse",
    "PatronInformationRequest",
    "PatronInformationResponse",
    "PatronStatus",
    "PatronStatusRequest",
    "PatronStatusResponse",
    "PaymentType",
    "Pending",
    "ProtocolError",
    "RemoteProtocolError",
    "RenewAllRequest",
    "RenewAllResponse",
    "RenewRequest",
    "RenewResponse",
    "ReplyCause",
    "RequestAcsResend",
    "RequestScResend",
    "ResponseHint",
    "ScConnection",
    "ScState",
    "ScStatus",
    "ScStatusCode",
    "SecurityMarker",
    "SendReply",
    "Summary",
    "SupportedMessages",
    "Terminator",
    "Unencodable",
    "checksum",
    "checksum_ok",
    "decode",
    "encode",
    "encode_request",
    "next_sequence",
    "redact_frame",
    "split_trailer",
    "transliterate",
]
