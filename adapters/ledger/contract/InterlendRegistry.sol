// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title InterlendRegistry: the consortium's member registry and loan-batch anchors.
/// @notice Members are libraries, each named by a bytes32 id (its consortium code, UTF-8,
/// zero-padded) and acting through one gateway signing address. The gateway key anchors
/// its member's loan batches and casts its member's votes.
///
/// Governance. Members admit, remove or re-key a member by vote: a proposal passes as soon
/// as its yes votes exceed `majorityNum / majorityDen` of the current members (1/2 is a
/// simple majority; the ratio is fixed at deployment, at least 1/2 and below 1). Any
/// change to the registry moves `epoch` on, and a proposal made in an older epoch can no
/// longer be voted on: the electorate that counts is always the current one, so a vote
/// cast by a member that has since been removed never counts. The deployer is a bootstrap
/// admin who may admit the first members directly, until it calls `endBootstrap()`; from
/// then on only votes change the registry.
///
/// Anchors. `anchor(batchSeq, merkleRoot, prevRoot)` records the root of one batch of loan
/// records (a Merkle tree built off chain; no personal data ever comes here). Sequence and
/// hash chain are enforced per member: batch n+1 must name batch n's root as `prevRoot`,
/// and sequences start at 1 with a zero `prevRoot`. Per member, because each member's
/// gateway is the only writer of its own chain: gateways never wait for or race one
/// another, and a member that is slow or offline never blocks the rest. The consortium's
/// history is the union of the members' chains, each complete and ordered.
///
/// Settlement rounds. A member allowed to propose (`proposer`) puts a period's settlement
/// on chain as the Merkle root (RFC 6962, as for anchors) of the libraries' statements,
/// each statement a leaf in the canonical encoding of `statementLeaf` (library code,
/// period, currency, counts and amounts: no personal data). Each library then answers
/// with its own member key: `acknowledge` with its statement and the statement's
/// inclusion proof (so it can acknowledge only its own statement, and only one that is
/// in the root), or `dispute` with a reason code. The round closes when every statement
/// is acknowledged (Agreed), or when the dispute window ends: Disputed if any library
/// disputed, else Lapsed (silence counts as acceptance). A disputed period may be
/// proposed again (a new revision, answered afresh). Who may propose and the window
/// (set at deployment) are changed by the members' vote, as membership is; those votes
/// do not move `epoch`, which tracks the electorate only.
contract InterlendRegistry {
    enum Action {
        Admit,
        Remove,
        Rekey,
        SetProposer,
        SetWindow
    }

    enum RoundState {
        None,
        Open,
        Agreed,
        Disputed,
        Lapsed
    }

    enum Answer {
        None,
        Acknowledged,
        Disputed
    }

    /// A library's statement: the leaf data is `abi.encode(STATEMENT_DOMAIN, library,
    /// period, currency, loansLent, loansBorrowed, charges, credits)`, codes as UTF-8
    /// zero-padded to 32 bytes, amounts in minor units.
    struct Statement {
        bytes32 libraryId;
        bytes32 period;
        bytes32 currency;
        uint64 loansLent;
        uint64 loansBorrowed;
        uint128 charges;
        uint128 credits;
    }

    /// One period's latest round: the root in one slot, everything else in the next.
    struct Round {
        bytes32 root;
        uint64 deadline;
        uint32 size;
        uint32 acknowledged;
        uint32 disputed;
        uint32 revision;
    }

    /// One storage slot: the gateway (zero once removed), the last anchored batch and the
    /// block it was anchored in (so a client finds the latest anchor's event directly).
    struct Member {
        address gateway;
        uint64 batchSeq;
        uint32 anchoredAt;
    }

    struct Proposal {
        Action action;
        bool executed;
        uint32 epoch;
        uint32 yes;
        address gateway;
        bytes32 memberId;
        uint64 value;
    }

    bytes32 public constant STATEMENT_DOMAIN = "interlend.statement.v1";

    uint32 public immutable majorityNum;
    uint32 public immutable majorityDen;

    address public bootstrapAdmin;
    uint32 public memberCount;
    uint32 public epoch;

    mapping(bytes32 => Member) private _members;
    mapping(bytes32 => bytes32) private _lastRoot;
    mapping(address => bytes32) public memberOfGateway;
    mapping(bytes32 => bool) private _known;
    bytes32[] private _memberIds;

    Proposal[] private _proposals;
    mapping(uint256 => mapping(bytes32 => bool)) private _voted;

    uint64 public disputeWindow;
    mapping(bytes32 => bool) public isProposer;
    mapping(bytes32 => Round) private _rounds;
    bytes32[] private _periods;
    /// Each id's position in `_memberIds`: where its answers sit in a round's bitmap.
    mapping(bytes32 => uint256) private _memberIndex;
    /// Answers by keccak256(period, revision), then word: 2 bits per member (an `Answer`),
    /// 127 members a word, the top bit set once the word is opened. The proposer opens
    /// every word when proposing, so that each library's answer rewrites a warm slot
    /// (about 5k gas) instead of filling an empty one (22k).
    mapping(bytes32 => mapping(uint256 => uint256)) private _answerBits;
    uint256 private constant MEMBERS_PER_WORD = 127;
    uint256 private constant OPENED = 1 << 255;

    event MemberAdmitted(bytes32 indexed memberId, address gateway);
    event MemberRemoved(bytes32 indexed memberId);
    event GatewayChanged(bytes32 indexed memberId, address previous, address gateway);
    event BootstrapEnded();
    event Proposed(
        uint256 indexed proposalId,
        Action action,
        bytes32 indexed memberId,
        address gateway,
        bytes32 proposer
    );
    event Voted(uint256 indexed proposalId, bytes32 indexed voter, uint32 yes);
    event Anchored(
        bytes32 indexed memberId,
        uint64 indexed batchSeq,
        bytes32 merkleRoot,
        bytes32 prevRoot,
        address gateway
    );
    event ProposerSet(bytes32 indexed memberId, bool allowed);
    event WindowSet(uint64 disputeWindow);
    event SettlementProposed(
        bytes32 indexed period,
        uint32 revision,
        bytes32 root,
        uint32 size,
        uint64 deadline,
        bytes32 proposer
    );
    event Acknowledged(bytes32 indexed period, uint32 revision, bytes32 indexed libraryId);
    event Disputed(bytes32 indexed period, uint32 revision, bytes32 indexed libraryId, uint8 reason);

    error NotBootstrapAdmin(address caller);
    error NotAGateway(address caller);
    error BadMajority(uint32 num, uint32 den);
    error BadMemberId();
    error BadGateway(address gateway);
    error GatewayInUse(address gateway);
    error AlreadyMember(bytes32 memberId);
    error NotAMember(bytes32 memberId);
    error LastMember(bytes32 memberId);
    error NoSuchProposal(uint256 proposalId);
    error StaleProposal(uint256 proposalId, uint32 proposalEpoch, uint32 currentEpoch);
    error AlreadyVoted(uint256 proposalId, bytes32 voter);
    error AlreadyExecuted(uint256 proposalId);
    error BadSequence(bytes32 memberId, uint64 expected, uint64 given);
    error BadPrevRoot(bytes32 memberId, bytes32 expected, bytes32 given);
    error EmptyRoot();
    error NoMembers();
    error BadWindow(uint64 disputeWindow);
    error NotAProposer(bytes32 memberId);
    error EmptyPeriod();
    error BadRoundSize(uint32 size);
    error RoundExists(bytes32 period, RoundState state);
    error NoRound(bytes32 period);
    error RoundClosed(bytes32 period, RoundState state);
    error AlreadyAnswered(bytes32 period, bytes32 libraryId, Answer answer);
    error NotYourStatement(bytes32 libraryId, bytes32 caller);
    error NotInRound(bytes32 period, bytes32 leafHash);
    error BadReason(uint8 reason);

    /// @param window The dispute window of a settlement round, in seconds (1 s to 365 days).
    constructor(uint32 num, uint32 den, uint64 window) {
        if (den == 0 || num >= den || 2 * uint256(num) < den) revert BadMajority(num, den);
        _checkWindow(window);
        majorityNum = num;
        majorityDen = den;
        disputeWindow = window;
        bootstrapAdmin = msg.sender;
    }

    // ---- bootstrap -------------------------------------------------------------------

    /// Admit a member directly: the bootstrap admin only, before `endBootstrap()`.
    function bootstrapAdmit(bytes32 memberId, address gateway) external {
        if (msg.sender != bootstrapAdmin) revert NotBootstrapAdmin(msg.sender);
        _checkAdmit(memberId, gateway);
        _admit(memberId, gateway);
    }

    /// Allow or forbid a member to propose settlements directly (the bootstrap admin only).
    function bootstrapSetProposer(bytes32 memberId, bool allowed) external {
        if (msg.sender != bootstrapAdmin) revert NotBootstrapAdmin(msg.sender);
        if (_members[memberId].gateway == address(0)) revert NotAMember(memberId);
        _setProposer(memberId, allowed);
    }

    /// Give up the bootstrap admin's powers for good (once there is a member to vote).
    function endBootstrap() external {
        if (msg.sender != bootstrapAdmin) revert NotBootstrapAdmin(msg.sender);
        if (memberCount == 0) revert NoMembers();
        bootstrapAdmin = address(0);
        emit BootstrapEnded();
    }

    // ---- governance ------------------------------------------------------------------

    /// Propose an action; the proposer's member votes yes at once.
    /// @param gateway The new member's gateway (Admit) or the member's new key (Rekey);
    /// ignored otherwise.
    /// @param value SetProposer: 1 to allow `memberId` to propose settlements, 0 to forbid;
    /// SetWindow: the new dispute window in seconds (`memberId` ignored); ignored otherwise.
    function propose(Action action, bytes32 memberId, address gateway, uint64 value)
        external
        returns (uint256 proposalId)
    {
        bytes32 voter = _callerMember();
        if (action == Action.Admit) {
            _checkAdmit(memberId, gateway);
            value = 0;
        } else if (action == Action.SetWindow) {
            _checkWindow(value);
            gateway = address(0);
            memberId = bytes32(0);
        } else {
            if (_members[memberId].gateway == address(0)) revert NotAMember(memberId);
            if (action == Action.Remove) {
                if (memberCount == 1) revert LastMember(memberId);
                gateway = address(0);
                value = 0;
            } else if (action == Action.SetProposer) {
                gateway = address(0);
                value = value == 0 ? 0 : 1;
            } else {
                _checkGateway(gateway);
                value = 0;
            }
        }
        proposalId = _proposals.length;
        _proposals.push(Proposal(action, false, epoch, 0, gateway, memberId, value));
        emit Proposed(proposalId, action, memberId, gateway, voter);
        _vote(proposalId, voter);
    }

    /// Vote yes on a proposal; it is carried out by the vote that passes it.
    function vote(uint256 proposalId) external {
        bytes32 voter = _callerMember();
        if (proposalId >= _proposals.length) revert NoSuchProposal(proposalId);
        _vote(proposalId, voter);
    }

    // ---- anchors ---------------------------------------------------------------------

    /// Anchor the root of the caller's member's next batch of loan records.
    function anchor(uint64 batchSeq, bytes32 merkleRoot, bytes32 prevRoot) external {
        bytes32 memberId = memberOfGateway[msg.sender];
        if (memberId == bytes32(0)) revert NotAGateway(msg.sender);
        if (merkleRoot == bytes32(0)) revert EmptyRoot();
        Member storage m = _members[memberId];
        uint64 expected = m.batchSeq + 1;
        if (batchSeq != expected) revert BadSequence(memberId, expected, batchSeq);
        bytes32 last = _lastRoot[memberId];
        if (prevRoot != last) revert BadPrevRoot(memberId, last, prevRoot);
        m.batchSeq = batchSeq;
        // A lookup hint only: past 2^32 blocks it wraps and clients scan the logs instead.
        m.anchoredAt = uint32(block.number);
        _lastRoot[memberId] = merkleRoot;
        emit Anchored(memberId, batchSeq, merkleRoot, prevRoot, msg.sender);
    }

    // ---- settlement rounds -------------------------------------------------------------

    /// Open the round of `period`: `root` over `size` statements, one per library, open for
    /// answers until now + `disputeWindow`. A period already settled (or still open) is
    /// refused; a disputed one may be proposed again.
    function proposeSettlement(bytes32 period, bytes32 root, uint32 size) external {
        bytes32 proposer = _callerMember();
        if (!isProposer[proposer]) revert NotAProposer(proposer);
        if (period == bytes32(0)) revert EmptyPeriod();
        if (root == bytes32(0)) revert EmptyRoot();
        if (size == 0) revert BadRoundSize(size);
        Round storage r = _rounds[period];
        RoundState state = _state(r);
        if (state == RoundState.None) {
            _periods.push(period);
        } else if (state != RoundState.Disputed) {
            revert RoundExists(period, state);
        }
        uint32 revision = r.revision + 1;
        uint64 deadline = uint64(block.timestamp) + disputeWindow;
        _rounds[period] = Round(root, deadline, size, 0, 0, revision);
        mapping(uint256 => uint256) storage bits = _answerBits[_roundKey(period, revision)];
        uint256 words = (_memberIds.length + MEMBERS_PER_WORD - 1) / MEMBERS_PER_WORD;
        for (uint256 w = 0; w < words; ++w) {
            bits[w] = OPENED;
        }
        emit SettlementProposed(period, revision, root, size, deadline, proposer);
    }

    /// Acknowledge the caller's own statement in the open round of its period.
    /// @param index The statement's leaf index, `path` its inclusion proof in the root.
    function acknowledge(Statement calldata s, uint256 index, bytes32[] calldata path)
        external
    {
        bytes32 caller = _callerMember();
        if (s.libraryId != caller) revert NotYourStatement(s.libraryId, caller);
        Round storage r = _openRound(s.period);
        bytes32 leaf = statementLeaf(s);
        if (!_included(leaf, index, r.size, path, r.root)) revert NotInRound(s.period, leaf);
        _answer(s.period, r.revision, caller, Answer.Acknowledged);
        uint32 acknowledged = r.acknowledged + 1;
        r.acknowledged = acknowledged;
        emit Acknowledged(s.period, r.revision, caller);
    }

    /// Dispute the caller's statement in the open round of `period`, with a reason code
    /// (1 counts, 2 amounts, 3 missing or extra statement, 4 other; documented off chain).
    function dispute(bytes32 period, uint8 reason) external {
        bytes32 caller = _callerMember();
        if (reason == 0) revert BadReason(reason);
        Round storage r = _openRound(period);
        _answer(period, r.revision, caller, Answer.Disputed);
        r.disputed += 1;
        emit Disputed(period, r.revision, caller, reason);
    }

    /// The hash of a statement's leaf: keccak256(0x00 || canonical encoding).
    function statementLeaf(Statement calldata s) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                bytes1(0x00),
                abi.encode(
                    STATEMENT_DOMAIN,
                    s.libraryId,
                    s.period,
                    s.currency,
                    s.loansLent,
                    s.loansBorrowed,
                    s.charges,
                    s.credits
                )
            )
        );
    }

    /// Whether `s` is in the latest round of its period (a plain call, no gas).
    function verifyStatement(Statement calldata s, uint256 index, bytes32[] calldata path)
        external
        view
        returns (bool)
    {
        Round storage r = _rounds[s.period];
        if (r.revision == 0) return false;
        return _included(statementLeaf(s), index, r.size, path, r.root);
    }

    /// The latest round of `period` and its state now.
    function settlement(bytes32 period)
        external
        view
        returns (
            RoundState state,
            bytes32 root,
            uint32 size,
            uint32 acknowledged,
            uint32 disputed,
            uint64 deadline,
            uint32 revision
        )
    {
        Round storage r = _rounds[period];
        return (_state(r), r.root, r.size, r.acknowledged, r.disputed, r.deadline, r.revision);
    }

    /// A library's answer in the latest round of `period`.
    function answerOf(bytes32 period, bytes32 libraryId) external view returns (Answer) {
        if (!_known[libraryId]) return Answer.None;
        uint256 index = _memberIndex[libraryId];
        bytes32 key = _roundKey(period, _rounds[period].revision);
        uint256 word = _answerBits[key][index / MEMBERS_PER_WORD];
        return Answer((word >> ((index % MEMBERS_PER_WORD) * 2)) & 3);
    }

    /// Every period ever proposed, in order of first proposal.
    function settlementPeriods() external view returns (bytes32[] memory) {
        return _periods;
    }

    // ---- views -----------------------------------------------------------------------

    /// A member's gateway (zero when not a member), last batch, its root and its block.
    function member(bytes32 memberId)
        external
        view
        returns (address gateway, uint64 batchSeq, bytes32 lastRoot, uint32 anchoredAt)
    {
        Member storage m = _members[memberId];
        return (m.gateway, m.batchSeq, _lastRoot[memberId], m.anchoredAt);
    }

    /// Every id ever admitted, in order of first admission (removed ones included).
    function memberIds() external view returns (bytes32[] memory) {
        return _memberIds;
    }

    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    function proposal(uint256 proposalId) external view returns (Proposal memory) {
        if (proposalId >= _proposals.length) revert NoSuchProposal(proposalId);
        return _proposals[proposalId];
    }

    function hasVoted(uint256 proposalId, bytes32 memberId) external view returns (bool) {
        return _voted[proposalId][memberId];
    }

    /// Check an RFC 6962 inclusion proof (keccak256; leaf prefix 0x00, node prefix 0x01),
    /// so anyone can verify a loan record against an anchored root with a plain call.
    function verifyInclusion(
        bytes32 leafHash,
        uint256 index,
        uint256 size,
        bytes32[] calldata path,
        bytes32 root
    ) external pure returns (bool) {
        return _included(leafHash, index, size, path, root);
    }

    // ---- internals -------------------------------------------------------------------

    function _included(
        bytes32 leafHash,
        uint256 index,
        uint256 size,
        bytes32[] calldata path,
        bytes32 root
    ) private pure returns (bool) {
        if (index >= size) return false;
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = leafHash;
        for (uint256 i = 0; i < path.length; ++i) {
            if (sn == 0) return false;
            if ((fn & 1) == 1 || fn == sn) {
                r = keccak256(abi.encodePacked(bytes1(0x01), path[i], r));
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = keccak256(abi.encodePacked(bytes1(0x01), r, path[i]));
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    function _state(Round storage r) private view returns (RoundState) {
        if (r.revision == 0) return RoundState.None;
        if (r.acknowledged == r.size) return RoundState.Agreed;
        if (block.timestamp < r.deadline) return RoundState.Open;
        return r.disputed > 0 ? RoundState.Disputed : RoundState.Lapsed;
    }

    function _openRound(bytes32 period) private view returns (Round storage r) {
        r = _rounds[period];
        RoundState state = _state(r);
        if (state == RoundState.None) revert NoRound(period);
        if (state != RoundState.Open) revert RoundClosed(period, state);
    }

    function _roundKey(bytes32 period, uint32 revision) private pure returns (bytes32) {
        return keccak256(abi.encode(period, revision));
    }

    function _answer(bytes32 period, uint32 revision, bytes32 libraryId, Answer answer) private {
        uint256 index = _memberIndex[libraryId];
        mapping(uint256 => uint256) storage bits = _answerBits[_roundKey(period, revision)];
        uint256 w = index / MEMBERS_PER_WORD;
        uint256 shift = (index % MEMBERS_PER_WORD) * 2;
        uint256 word = bits[w];
        Answer given = Answer((word >> shift) & 3);
        if (given != Answer.None) revert AlreadyAnswered(period, libraryId, given);
        bits[w] = word | OPENED | (uint256(answer) << shift);
    }

    function _checkWindow(uint64 window) private pure {
        if (window == 0 || window > 365 days) revert BadWindow(window);
    }

    function _setProposer(bytes32 memberId, bool allowed) private {
        isProposer[memberId] = allowed;
        emit ProposerSet(memberId, allowed);
    }

    function _callerMember() private view returns (bytes32 memberId) {
        memberId = memberOfGateway[msg.sender];
        if (memberId == bytes32(0)) revert NotAGateway(msg.sender);
    }

    function _checkGateway(address gateway) private view {
        if (gateway == address(0)) revert BadGateway(gateway);
        if (memberOfGateway[gateway] != bytes32(0)) revert GatewayInUse(gateway);
    }

    function _checkAdmit(bytes32 memberId, address gateway) private view {
        if (memberId == bytes32(0)) revert BadMemberId();
        if (_members[memberId].gateway != address(0)) revert AlreadyMember(memberId);
        _checkGateway(gateway);
    }

    function _vote(uint256 proposalId, bytes32 voter) private {
        Proposal storage p = _proposals[proposalId];
        if (p.executed) revert AlreadyExecuted(proposalId);
        if (p.epoch != epoch) revert StaleProposal(proposalId, p.epoch, epoch);
        if (_voted[proposalId][voter]) revert AlreadyVoted(proposalId, voter);
        _voted[proposalId][voter] = true;
        uint32 yes = p.yes + 1;
        p.yes = yes;
        emit Voted(proposalId, voter, yes);
        if (uint256(yes) * majorityDen > uint256(memberCount) * majorityNum) {
            p.executed = true;
            if (p.action == Action.Admit) {
                _admit(p.memberId, p.gateway);
            } else if (p.action == Action.Remove) {
                _remove(p.memberId);
            } else if (p.action == Action.Rekey) {
                _rekey(p.memberId, p.gateway);
            } else if (p.action == Action.SetProposer) {
                _setProposer(p.memberId, p.value != 0);
            } else {
                disputeWindow = p.value;
                emit WindowSet(p.value);
            }
        }
    }

    function _admit(bytes32 memberId, address gateway) private {
        Member storage m = _members[memberId];
        m.gateway = gateway;
        memberOfGateway[gateway] = memberId;
        if (!_known[memberId]) {
            _known[memberId] = true;
            _memberIndex[memberId] = _memberIds.length;
            _memberIds.push(memberId);
        }
        ++memberCount;
        ++epoch;
        emit MemberAdmitted(memberId, gateway);
    }

    /// The member's anchors stay (its chain resumes if it is admitted again); its right to
    /// propose settlements does not (a member admitted again is voted a proposer again).
    function _remove(bytes32 memberId) private {
        Member storage m = _members[memberId];
        if (isProposer[memberId]) _setProposer(memberId, false);
        delete memberOfGateway[m.gateway];
        m.gateway = address(0);
        --memberCount;
        ++epoch;
        emit MemberRemoved(memberId);
    }

    function _rekey(bytes32 memberId, address gateway) private {
        Member storage m = _members[memberId];
        address previous = m.gateway;
        delete memberOfGateway[previous];
        m.gateway = gateway;
        memberOfGateway[gateway] = memberId;
        ++epoch;
        emit GatewayChanged(memberId, previous, gateway);
    }
}
