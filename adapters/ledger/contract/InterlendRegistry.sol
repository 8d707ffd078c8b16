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
contract InterlendRegistry {
    enum Action {
        Admit,
        Remove,
        Rekey
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
    }

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

    constructor(uint32 num, uint32 den) {
        if (den == 0 || num >= den || 2 * uint256(num) < den) revert BadMajority(num, den);
        majorityNum = num;
        majorityDen = den;
        bootstrapAdmin = msg.sender;
    }

    // ---- bootstrap -------------------------------------------------------------------

    /// Admit a member directly: the bootstrap admin only, before `endBootstrap()`.
    function bootstrapAdmit(bytes32 memberId, address gateway) external {
        if (msg.sender != bootstrapAdmin) revert NotBootstrapAdmin(msg.sender);
        _checkAdmit(memberId, gateway);
        _admit(memberId, gateway);
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
    /// ignored for Remove.
    function propose(Action action, bytes32 memberId, address gateway)
        external
        returns (uint256 proposalId)
    {
        bytes32 voter = _callerMember();
        if (action == Action.Admit) {
            _checkAdmit(memberId, gateway);
        } else {
            if (_members[memberId].gateway == address(0)) revert NotAMember(memberId);
            if (action == Action.Remove) {
                if (memberCount == 1) revert LastMember(memberId);
                gateway = address(0);
            } else {
                _checkGateway(gateway);
            }
        }
        proposalId = _proposals.length;
        _proposals.push(Proposal(action, false, epoch, 0, gateway, memberId));
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

    // ---- internals -------------------------------------------------------------------

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
            } else {
                _rekey(p.memberId, p.gateway);
            }
        }
    }

    function _admit(bytes32 memberId, address gateway) private {
        Member storage m = _members[memberId];
        m.gateway = gateway;
        memberOfGateway[gateway] = memberId;
        if (!_known[memberId]) {
            _known[memberId] = true;
            _memberIds.push(memberId);
        }
        ++memberCount;
        ++epoch;
        emit MemberAdmitted(memberId, gateway);
    }

    /// The member's anchors stay (its chain resumes if it is admitted again).
    function _remove(bytes32 memberId) private {
        Member storage m = _members[memberId];
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
