// JSEP without sockets: the transport read from and written into descriptions (Session.*,
// src/core/session/transport_description) against the browsers' descriptions in
// tests/fixtures/sdp, and the signaling state machine (Negotiation.*,
// src/core/session/negotiation) that PeerImpl carries out on the transports.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../support/sdp_fixture.hpp"
#include "core/sdp/description.hpp"
#include "core/session/negotiation.hpp"
#include "core/session/transport_description.hpp"
#include "peer/error.hpp"

namespace {

namespace session = peer::session;
namespace sdp = peer::sdp;
using peer::Errc;
using peer::test::local_transport;
using session::DescriptionType;
using session::Negotiation;
using session::SignalingState;
std::string fixture(const std::string& name) { return peer::test::sdp_fixture(name); }

TEST(Session, AnswersChromesAudioVideoDataOfferOnItsDataSection) {
  const sdp::Description offer = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  const auto remote = session::remote_transport(offer, true);
  EXPECT_EQ(remote.mid, "2");
  EXPECT_EQ(remote.mline_index, 2);
  EXPECT_EQ(remote.bundle_mids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(remote.setup, "actpass");
  EXPECT_EQ(remote.fingerprint_algorithm, "sha-256");
  EXPECT_EQ(remote.max_message_size, 262144u);

  const sdp::Description answer = session::make_answer(offer, local_transport("active"));
  ASSERT_EQ(answer.media.size(), 3u);  // one answer section per offered section (RFC 8829)
  EXPECT_EQ(answer.media[0].port, 0);  // audio and video rejected for now
  EXPECT_EQ(answer.media[0].mid, "0");
  EXPECT_EQ(answer.media[1].port, 0);
  EXPECT_EQ(answer.media[2].mid, "2");
  EXPECT_EQ(answer.media[2].port, 9);
  EXPECT_EQ(answer.media[2].setup, sdp::Setup::active);
  ASSERT_EQ(answer.groups.size(), 1u);
  EXPECT_EQ(answer.groups[0].mids, std::vector<std::string>{"2"});
  // What we write parses back the same (Chrome parses our answer with the same grammar).
  EXPECT_EQ(sdp::parse(sdp::write(answer)), answer);
  const auto back = session::remote_transport(sdp::parse(sdp::write(answer)), false);
  EXPECT_EQ(back.mid, "2");
  EXPECT_EQ(back.setup, "active");
}

TEST(Session, FirefoxBundleOnlyDataSectionTakesTheTaggedSectionsCandidates) {
  const sdp::Description offer = sdp::parse(fixture("firefox_offer_av_data.sdp"));
  const auto remote = session::remote_transport(offer, true);
  EXPECT_EQ(remote.mid, "2");               // port 0 but bundle-only: still ours
  EXPECT_EQ(remote.candidates.size(), 4u);  // from the tagged audio section
  EXPECT_TRUE(remote.end_of_candidates);
  EXPECT_FALSE(remote.fingerprint.empty());  // session-level in Firefox
}

TEST(Session, AnOfferWithoutDataTakesItsTransportFromTheFirstRtpSection) {
  sdp::Description offer = sdp::parse(fixture("chrome_offer_av_data.sdp"));
  offer.media.pop_back();  // drop m=application
  const auto remote = session::remote_transport(offer, true);
  EXPECT_FALSE(remote.has_data);
  EXPECT_EQ(remote.mid, "0");
  EXPECT_EQ(remote.mline_index, 0);
  EXPECT_FALSE(remote.ice_ufrag.empty());
  // With every section rejected there is nothing to take: refused by name.
  for (auto& m : offer.media) m.port = 0;
  try {
    session::remote_transport(offer, true);
    FAIL();
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::bad_sdp);
    EXPECT_NE(std::string(e.what()).find("RTP/SAVPF section that is not rejected"), std::string::npos) << e.what();
  }
  EXPECT_THROW(session::make_answer(offer, local_transport("active")), peer::Error);
}

TEST(Session, AbsentSetupTakesRfc4145Defaults) {
  sdp::Description d = sdp::parse(fixture("chrome_offer_data.sdp"));
  for (auto& m : d.media) m.setup.reset();
  d.setup.reset();
  EXPECT_EQ(session::remote_transport(d, true).setup, "active");
  const auto as_answer = session::remote_transport(d, false);
  EXPECT_EQ(as_answer.setup, "passive");
  EXPECT_EQ(session::offerer_role(as_answer), peer::dtls::Role::client);
}

// --- the signaling state machine (JSEP section 3.2) -------------------------------------------

// A description as the remote would send it: our own writer with other credentials.
sdp::Description remote_offer(const std::string& ufrag = "remU", const std::string& fingerprint = "CC:DD") {
  auto t = local_transport("actpass");
  t.ice_ufrag = ufrag;
  t.ice_pwd = "remote-password-0123456789";
  t.fingerprint = fingerprint;
  return session::make_offer(t);
}
sdp::Description remote_answer(const sdp::Description& offer, const std::string& setup = "active",
                               const std::string& ufrag = "remU") {
  auto t = local_transport(setup);
  t.ice_ufrag = ufrag;
  t.ice_pwd = "remote-password-0123456789";
  t.fingerprint = "CC:DD";
  return session::make_answer(offer, t);
}
sdp::Description our_offer() { return session::make_offer(local_transport("actpass")); }

// The message of the Error `fn` throws, checked to carry `code`.
template <typename Fn>
std::string error_of(Fn&& fn, Errc code) {
  try {
    fn();
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

TEST(Negotiation, OffererWalksStableLocalOfferStable) {
  Negotiation n;
  EXPECT_EQ(n.state(), SignalingState::stable);
  EXPECT_EQ(session::to_string(n.state()), "stable");
  n.check_offer();
  const auto offer = our_offer();
  const auto ours = n.apply_local(offer, DescriptionType::offer);
  EXPECT_EQ(ours.mid, "0");
  EXPECT_EQ(n.state(), SignalingState::have_local_offer);
  EXPECT_EQ(session::to_string(n.state()), "have-local-offer");
  EXPECT_EQ(n.local_type(), DescriptionType::offer);
  EXPECT_EQ(n.local_mid(), "0");

  n.check_remote(DescriptionType::answer);
  const auto change = n.apply_remote(remote_answer(offer, "active"), DescriptionType::answer);
  EXPECT_EQ(n.state(), SignalingState::stable);
  EXPECT_TRUE(change.first);
  EXPECT_TRUE(change.new_credentials);
  EXPECT_FALSE(change.ice_restart);
  EXPECT_FALSE(change.join_restart);
  // The answerer took "active" (the client): we are the DTLS server (RFC 8842 section 5.3).
  ASSERT_TRUE(change.offerer_dtls_role);
  EXPECT_EQ(*change.offerer_dtls_role, peer::dtls::Role::server);
  ASSERT_TRUE(n.remote());
  EXPECT_EQ(n.remote()->ice_ufrag, "remU");
  EXPECT_FALSE(n.remote_offer());  // an answer is not kept to answer
}

TEST(Negotiation, AnswererWalksStableRemoteOfferStable) {
  Negotiation n;
  n.check_remote(DescriptionType::offer);
  const auto change = n.apply_remote(remote_offer(), DescriptionType::offer);
  EXPECT_TRUE(change.first);
  EXPECT_FALSE(change.offerer_dtls_role);
  EXPECT_EQ(n.state(), SignalingState::have_remote_offer);
  ASSERT_TRUE(n.remote_offer());
  EXPECT_FALSE(n.renegotiation());
  n.check_answer();
  n.check_local(DescriptionType::answer);
  const std::string setup = n.answer_setup(std::nullopt, std::nullopt);
  EXPECT_EQ(setup, "active");  // RFC 8842 section 5.3: the answerer should be the client
  const auto answer = session::make_answer(*n.remote_offer(), local_transport(setup));
  n.apply_local(answer, DescriptionType::answer);
  EXPECT_EQ(n.state(), SignalingState::stable);
  EXPECT_EQ(n.local_type(), DescriptionType::answer);
}

TEST(Negotiation, EachVerbInTheWrongStateIsRefusedNamingIt) {
  Negotiation stable;
  EXPECT_NE(error_of([&] { stable.check_answer(); }, Errc::invalid_state).find("answer()"), std::string::npos);
  EXPECT_NE(error_of([&] { stable.check_local(DescriptionType::answer); }, Errc::invalid_state).find("local(answer)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { stable.check_remote(DescriptionType::answer); }, Errc::invalid_state)
                .find("remote(answer)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { stable.check_restart(); }, Errc::invalid_state).find("restart()"), std::string::npos);
  stable.check_stable_for_tracks();  // allowed in stable

  Negotiation offered;
  offered.apply_local(our_offer(), DescriptionType::offer);
  EXPECT_NE(error_of([&] { offered.check_remote(DescriptionType::offer); }, Errc::invalid_state).find("glare"),
            std::string::npos);
  error_of([&] { offered.check_stable_for_tracks(); }, Errc::invalid_state);
  offered.check_offer();  // a new offer replaces ours (JSEP section 5.2)

  Negotiation answering;
  answering.apply_remote(remote_offer(), DescriptionType::offer);
  EXPECT_NE(error_of([&] { answering.check_offer(); }, Errc::invalid_state).find("offer()"), std::string::npos);
  EXPECT_NE(error_of([&] { answering.check_local(DescriptionType::offer); }, Errc::invalid_state)
                .find("local(offer)"),
            std::string::npos);
  error_of([&] { answering.check_stable_for_tracks(); }, Errc::invalid_state);
}

TEST(Negotiation, AnswerSetupFollowsRfc8842) {
  Negotiation n;
  n.apply_remote(remote_offer(), DescriptionType::offer);  // actpass: our choice
  EXPECT_EQ(n.answer_setup(std::nullopt, std::nullopt), "active");
  EXPECT_EQ(n.answer_setup("passive", std::nullopt), "passive");
  EXPECT_EQ(n.answer_setup("active", std::nullopt), "active");
  const std::string bad = error_of([&] { n.answer_setup("server", std::nullopt); }, Errc::invalid_argument);
  EXPECT_NE(bad.find("\"server\""), std::string::npos) << bad;

  // An offerer that fixed its role (section 5.2) decides ours, whatever was asked.
  for (const auto& [offered, ours] : {std::pair{"active", "passive"}, std::pair{"passive", "active"}}) {
    auto offer = remote_offer();
    offer.media[0].setup = sdp::setup_from_string(offered);
    Negotiation fixed;
    fixed.apply_remote(offer, DescriptionType::offer);
    EXPECT_EQ(fixed.answer_setup(offered, std::nullopt), ours) << offered;
  }
}

TEST(Negotiation, ARenegotiationKeepsTheRunningDtlsRole) {
  Negotiation n;
  n.apply_remote(remote_offer(), DescriptionType::offer);
  n.apply_local(session::make_answer(*n.remote_offer(), local_transport("passive")), DescriptionType::answer);
  const auto change = n.apply_remote(remote_offer(), DescriptionType::offer);  // same credentials
  EXPECT_TRUE(n.renegotiation());
  EXPECT_FALSE(change.first);
  EXPECT_FALSE(change.new_credentials);  // nothing for ICE to do
  // We are the DTLS server of the running association: "active" would break it.
  EXPECT_EQ(n.answer_setup("active", peer::dtls::Role::server), "passive");
  EXPECT_EQ(n.answer_setup("passive", peer::dtls::Role::client), "active");
}

TEST(Negotiation, NewRemoteCredentialsAreARestartWeJoinEveryTime) {
  Negotiation n;
  n.apply_remote(remote_offer("gen1"), DescriptionType::offer);
  n.apply_local(session::make_answer(*n.remote_offer(), local_transport("active")), DescriptionType::answer);
  for (const std::string ufrag : {"gen2", "gen3"}) {  // the same side restarting twice in a row
    auto offer = remote_offer(ufrag);
    offer.media[0].candidates = {"candidate:1 1 udp 2130706431 10.0.0." + std::to_string(ufrag.back() - '0') +
                                 " 4000 typ host"};
    offer.media[0].end_of_candidates = true;
    const auto change = n.apply_remote(offer, DescriptionType::offer);
    EXPECT_TRUE(change.ice_restart) << ufrag;
    EXPECT_TRUE(change.new_credentials) << ufrag;
    EXPECT_TRUE(change.join_restart) << ufrag;  // we did not start it: our agent restarts for the answer
    EXPECT_EQ(n.remote()->ice_ufrag, ufrag);
    EXPECT_EQ(n.remote()->fingerprint, "CC:DD");
    // The new generation's candidates replace the old ones (they are what ICE gets next).
    EXPECT_EQ(n.remote()->candidates, offer.media[0].candidates);
    EXPECT_TRUE(n.remote()->end_of_candidates);
    n.apply_local(session::make_answer(*n.remote_offer(), local_transport("active")), DescriptionType::answer);
  }
}

TEST(Negotiation, ARemoteRestartOfferWhileOursIsOutIsNotJoinedAgain) {
  Negotiation n;
  n.apply_remote(remote_offer("gen1"), DescriptionType::offer);
  n.apply_local(session::make_answer(*n.remote_offer(), local_transport("active")), DescriptionType::answer);
  n.begin_restart();  // our agent restarted already (our offer failed to go out, say)
  const auto change = n.apply_remote(remote_offer("gen2"), DescriptionType::offer);
  EXPECT_TRUE(change.ice_restart);
  EXPECT_FALSE(change.join_restart);  // a second agent restart would throw our new credentials away
  EXPECT_FALSE(n.restarting());
}

TEST(Negotiation, OurRestartEndsWithTheAnswersNewCredentials) {
  Negotiation n;
  const auto offer = our_offer();
  n.apply_local(offer, DescriptionType::offer);
  n.apply_remote(remote_answer(offer, "active", "gen1"), DescriptionType::answer);
  n.check_restart();
  n.begin_restart();
  EXPECT_TRUE(n.restarting());
  n.apply_local(offer, DescriptionType::offer);
  const auto change = n.apply_remote(remote_answer(offer, "active", "gen2"), DescriptionType::answer);
  EXPECT_TRUE(change.ice_restart);
  EXPECT_FALSE(change.join_restart);  // our own restart: the agent restarted already
  EXPECT_FALSE(n.restarting());
}

TEST(Negotiation, ARefusedRemoteDescriptionChangesNothing) {
  Negotiation n;
  const auto offer = our_offer();
  n.apply_local(offer, DescriptionType::offer);

  // a=setup:actpass in an answer (RFC 8842 section 5.3).
  const std::string actpass =
      error_of([&] { n.apply_remote(remote_answer(offer, "actpass"), DescriptionType::answer); }, Errc::bad_sdp);
  EXPECT_NE(actpass.find("actpass"), std::string::npos) << actpass;
  // No section to take the transport from.
  auto empty = remote_answer(offer);
  empty.media.clear();
  error_of([&] { n.apply_remote(empty, DescriptionType::answer); }, Errc::bad_sdp);
  EXPECT_EQ(n.state(), SignalingState::have_local_offer);
  EXPECT_FALSE(n.remote());

  n.apply_remote(remote_answer(offer), DescriptionType::answer);
  // A new certificate in a renegotiation: refused, the running remote transport stays.
  n.apply_local(offer, DescriptionType::offer);
  auto rekeyed = remote_answer(offer);
  rekeyed.media[0].fingerprints = {sdp::Fingerprint{"sha-256", "EE:FF"}};
  const std::string cert = error_of([&] { n.apply_remote(rekeyed, DescriptionType::answer); }, Errc::bad_sdp);
  EXPECT_NE(cert.find("certificate"), std::string::npos) << cert;
  EXPECT_EQ(n.state(), SignalingState::have_local_offer);
  EXPECT_EQ(n.remote()->fingerprint, "CC:DD");
}

TEST(Negotiation, ARefusedLocalDescriptionChangesNothing) {
  Negotiation n;
  const auto version = n.session_version();
  auto broken = our_offer();
  broken.media.clear();
  error_of([&] { n.apply_local(broken, DescriptionType::offer); }, Errc::bad_sdp);
  EXPECT_EQ(n.state(), SignalingState::stable);
  EXPECT_FALSE(n.local_description());
  EXPECT_EQ(n.session_version(), version);
  n.apply_local(our_offer(), DescriptionType::offer);
  EXPECT_EQ(n.session_version(), version + 1);  // each description we apply counts (RFC 8866 5.2)
}

TEST(Negotiation, DescriptionTypesByName) {
  EXPECT_EQ(session::description_type("offer"), DescriptionType::offer);
  EXPECT_EQ(session::description_type("answer"), DescriptionType::answer);
  EXPECT_FALSE(session::description_type("pranswer"));
  EXPECT_FALSE(session::description_type(""));
  EXPECT_EQ(session::to_string(DescriptionType::answer), "answer");
}

}  // namespace
