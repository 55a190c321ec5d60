// swarmctl: the operator's command-line client for swarmd.
//
// This file only wires the command line to the functions in commands.h and
// maps every outcome to an exit status: 0 success, 1 failure, 2 bad usage.
#include <CLI/CLI.hpp>

#include <functional>
#include <limits>

#include "cli/commands.h"
#include "cli/failure.h"
#include "cli/task_commands.h"
#include "base/units.h"

namespace {

using smol::cli::Failure;

constexpr const char* kDefaultSocket = "/run/smolswarms/swarmd.sock";

// Parses a DURATION option ("90s", "2m", "500ms"); bad input is a usage error.
std::chrono::milliseconds duration_arg(const std::string& option, const std::string& text) {
  auto d = smol::parse_duration(text);
  if (!d || d->count() <= 0) {
    throw CLI::ValidationError(
        option, "expected a duration above 0 like 90s, 2m or 500ms, not '" + text + "'");
  }
  return *d;
}

// Parses a BYTES option ("4096", "64KiB", "1M") into the schema's UInt32.
uint32_t bytes_arg(const std::string& option, const std::string& text) {
  auto b = smol::parse_bytes(text);
  if (!b || *b > std::numeric_limits<uint32_t>::max()) {
    throw CLI::ValidationError(option,
                               "expected a size below 4GiB like 4096 or 64KiB, not '" + text + "'");
  }
  return static_cast<uint32_t>(*b);
}

int run(int argc, char** argv) {
  CLI::App app{"Controls swarmd, the SmolSwarms daemon, over its control socket.", "swarmctl"};
  app.set_version_flag("--version", SMOL_VERSION);
  app.require_subcommand(1);
  // Global options may come after the subcommand too: `swarmctl ls --json`.
  app.fallthrough();
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "swarmctl: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });

  smol::cli::GlobalOptions g;
  g.socket_path = kDefaultSocket;
  app.add_flag("--json", g.json, "Print one JSON document (logs -f: one per line)");
  app.add_option("--socket", g.socket_path, "swarmd's control socket")
      ->type_name("PATH")
      ->envname("SMOLSWARMS_SOCKET")
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--timeout", [&](const std::string& s) { g.timeout = duration_arg("--timeout", s); },
         "Give up on the call after DURATION (default 60s; down: 30s past the grace; "
         "logs -f: no limit)")
      ->type_name("DURATION");

  std::function<void()> command;

  std::string file;
  auto* up = app.add_subcommand("up", "Start a swarm from its spec; wait until it is ready");
  up->add_option("FILE", file, "Swarm spec (TOML)")->required();
  up->callback([&] { command = [&] { smol::cli::up(g, file); }; });

  auto* ls = app.add_subcommand("ls", "List swarms");
  ls->callback([&] { command = [&] { smol::cli::ls(g); }; });

  std::string swarm;
  auto* ps = app.add_subcommand("ps", "List a swarm's agents");
  ps->add_option("SWARM", swarm, "Swarm name")->required();
  ps->callback([&] { command = [&] { smol::cli::ps(g, swarm); }; });

  auto interval = std::chrono::milliseconds(2000);
  uint32_t iterations = 0;
  auto* top = app.add_subcommand("top", "Show a swarm's agents and their resource use, refreshed");
  top->add_option("SWARM", swarm, "Swarm name")->required();
  top->add_option_function<std::string>(
         "-d,--interval", [&](const std::string& s) { interval = duration_arg("--interval", s); },
         "Time between refreshes (default: 2s)")
      ->type_name("DURATION");
  top->add_option("-n,--iterations", iterations, "Refresh this many times, then exit (default: "
                                                 "until Ctrl-C)")
      ->type_name("N")
      ->check(CLI::Range(1u, 1000000u));
  top->callback([&] { command = [&] { smol::cli::top(g, swarm, interval, iterations); }; });

  auto vibe_deadline = std::chrono::milliseconds(0);
  auto* vibe = app.add_subcommand("vibe", "Ask every agent of a swarm how it is doing; exit 1 "
                                          "unless all are ok");
  vibe->add_option("SWARM", swarm, "Swarm name")->required();
  vibe->add_option_function<std::string>(
          "--deadline",
          [&](const std::string& s) { vibe_deadline = duration_arg("--deadline", s); },
          "How long to wait for the answers (default: swarmd's, 2s)")
      ->type_name("DURATION");
  vibe->callback([&] { command = [&] { smol::cli::vibe(g, swarm, vibe_deadline); }; });

  std::string target, topic, message;
  auto* dm = app.add_subcommand("dm", "Send a message to one agent, as the operator");
  dm->add_option("SWARM/AGENT", target, "Swarm name/agent id (or swarm/role/index)")->required();
  dm->add_option("MSG", message, "The message; - reads it from stdin")->required();
  dm->add_option("--topic", topic, "A topic the agent can route on (default: none)");
  dm->callback([&] { command = [&] { smol::cli::dm(g, target, topic, message); }; });
  auto* broadcast = app.add_subcommand("broadcast", "Send a message to every agent of a swarm, "
                                                    "as the operator");
  broadcast->add_option("SWARM", swarm, "Swarm name")->required();
  broadcast->add_option("TOPIC", topic, "The message's topic")->required();
  broadcast->add_option("MSG", message, "The message; - reads it from stdin")->required();
  broadcast->callback([&] { command = [&] { smol::cli::broadcast(g, swarm, topic, message); }; });

  for (bool paused : {true, false}) {
    auto* sub = app.add_subcommand(paused ? "pause" : "resume",
                                   paused ? "Freeze a swarm's running agents, or one agent"
                                          : "Thaw a swarm's paused agents, or one agent");
    sub->add_option("SWARM[/AGENT]", target, "Swarm name, or swarm name/agent id")->required();
    sub->callback([&, paused] { command = [&, paused] { smol::cli::pause(g, target, paused); }; });
  }

  bool follow = false;
  uint32_t tail = 0;
  auto* logs = app.add_subcommand("logs", "Print an agent's captured stdout and stderr");
  logs->add_option("SWARM/AGENT", target, "Agent, as swarm name/agent id")->required();
  logs->add_flag("-f,--follow", follow, "Keep printing new output until the agent ends or Ctrl-C");
  logs->add_option_function<std::string>(
          "--tail", [&](const std::string& s) { tail = bytes_arg("--tail", s); },
          "Only the last BYTES (default: all that swarmd keeps)")
      ->type_name("BYTES");
  logs->callback([&] { command = [&] { smol::cli::logs(g, target, follow, tail); }; });

  auto* events = app.add_subcommand("events", "Print what happened to a swarm and its agents");
  events->add_option("SWARM", swarm, "Swarm name")->required();
  events->add_flag("-f,--follow", follow, "Keep printing new events until the swarm ends or Ctrl-C");
  events->add_option_function<std::string>(
            "--tail", [&](const std::string& s) { tail = bytes_arg("--tail", s); },
            "Only the last BYTES (default: all that swarmd keeps)")
      ->type_name("BYTES");
  events->callback([&] { command = [&] { smol::cli::events(g, swarm, follow, tail); }; });

  uint32_t grace = 0;
  auto* down = app.add_subcommand("down", "Stop a swarm; wait until every agent is gone");
  down->add_option("SWARM", swarm, "Swarm name")->required();
  down->add_option_function<std::string>(
          "--grace",
          [&](const std::string& s) {
            auto d = duration_arg("--grace", s);
            if (d.count() > std::numeric_limits<uint32_t>::max()) {
              throw CLI::ValidationError("--grace", "at most 49 days");
            }
            grace = static_cast<uint32_t>(d.count());
          },
          "Time between the shutdown request and SIGTERM, then SIGKILL (default: swarmd's)")
      ->type_name("DURATION");
  down->callback([&] { command = [&] { smol::cli::down(g, swarm, grace); }; });

  auto* status =
      app.add_subcommand("status", "Show the daemon's version, uptime, paths and counts");
  status->callback([&] { command = [&] { smol::cli::status(g); }; });

  // swarmctl mem ...: the swarm's memory tiers.
  auto* mem = app.add_subcommand("mem", "Read and write a swarm's memory (short-term, working, "
                                        "long-term)");
  mem->require_subcommand(1);
  std::string tier, key, value, agent, prefix, query, to_tier;
  smol::cli::MemPutOptions put_opts;
  smol::cli::MemRecallOptions recall_opts;
  auto agent_option = [&](CLI::App* sub, std::string& into) {
    sub->add_option("--agent", into,
                    "The agent: owner of short-term entries (required there), else the writer")
        ->type_name("ID");
  };
  auto entry_args = [&](CLI::App* sub) {
    sub->add_option("SWARM", swarm, "Swarm name")->required();
    sub->add_option("TIER", tier, "short-term, working or long-term")->required();
    sub->add_option("KEY", key, "Entry key")->required();
    agent_option(sub, agent);
  };

  auto* mem_put = mem->add_subcommand("put", "Put a value under a key (answers once durable)");
  mem_put->add_option("SWARM", swarm, "Swarm name")->required();
  mem_put->add_option("TIER", tier, "short-term, working or long-term")->required();
  mem_put->add_option("KEY", key, "Entry key")->required();
  mem_put->add_option("VALUE", value, "The value; - reads it from stdin")->required();
  agent_option(mem_put, put_opts.agent);
  mem_put->add_option("--tag", put_opts.tags, "A tag for recall filters (repeatable)")
      ->type_name("TAG")
      ->allow_extra_args(false);
  mem_put->add_option_function<std::string>(
             "--ttl", [&](const std::string& s) { put_opts.ttl = duration_arg("--ttl", s); },
             "Short-term only: time to live (default: swarmd's, 10m)")
      ->type_name("DURATION");
  mem_put->callback([&] {
    command = [&] { smol::cli::mem_put(g, swarm, tier, key, value, put_opts); };
  });

  auto* mem_get = mem->add_subcommand("get", "Print an entry's value (--json: with provenance)");
  entry_args(mem_get);
  mem_get->callback([&] { command = [&] { smol::cli::mem_get(g, swarm, tier, key, agent); }; });

  auto* mem_ls = mem->add_subcommand("ls", "List a tier's entries");
  mem_ls->add_option("SWARM", swarm, "Swarm name")->required();
  mem_ls->add_option("TIER", tier, "short-term, working or long-term")->required();
  mem_ls->add_option("--prefix", prefix, "Only keys starting with PREFIX")->type_name("PREFIX");
  agent_option(mem_ls, agent);
  mem_ls->callback([&] { command = [&] { smol::cli::mem_ls(g, swarm, tier, prefix, agent); }; });

  auto* mem_recall = mem->add_subcommand("recall", "Find the entries that best match a query "
                                                   "(BM25)");
  mem_recall->add_option("SWARM", swarm, "Swarm name")->required();
  mem_recall->add_option("QUERY", query, "Words to look for")->required();
  mem_recall->add_option("-k", recall_opts.k, "How many entries at most (default: 10)")
      ->type_name("N");
  mem_recall->add_option("--tier", recall_opts.tiers, "Only this tier (repeatable; default: all)")
      ->type_name("TIER")
      ->allow_extra_args(false);
  mem_recall->add_option("--tag", recall_opts.tags, "Only entries with this tag (repeatable)")
      ->type_name("TAG")
      ->allow_extra_args(false);
  agent_option(mem_recall, recall_opts.agent);
  mem_recall->callback([&] {
    command = [&] { smol::cli::mem_recall(g, swarm, query, recall_opts); };
  });

  auto* mem_rm = mem->add_subcommand("rm", "Delete an entry");
  entry_args(mem_rm);
  mem_rm->callback([&] { command = [&] { smol::cli::mem_rm(g, swarm, tier, key, agent); }; });

  auto* mem_consolidate =
      mem->add_subcommand("consolidate", "Move an entry up a tier, keeping its provenance");
  entry_args(mem_consolidate);
  mem_consolidate->add_option("--to", to_tier, "Destination tier (default: the next one up)")
      ->type_name("TIER");
  mem_consolidate->callback([&] {
    command = [&] { smol::cli::mem_consolidate(g, swarm, tier, key, to_tier, agent); };
  });

  int exit_status = 0;
  smol::cli::RunOptions run_opts;
  auto* run = app.add_subcommand(
      "run", "Run one command in the agent sandbox; exit with its status (128+signal if killed)");
  run->add_option("--profile", run_opts.profile, "Sandbox profile (default: swarmd's default)")
      ->type_name("NAME");
  run->add_option("--workdir", run_opts.workdir,
                  "Host directory to work in, used as it is (default: a fresh one)")
      ->type_name("DIR");
  run->add_option("COMMAND", run_opts.argv, "The command and its arguments, after --")
      ->required();
  run->callback([&] { command = [&] { exit_status = smol::cli::run(g, run_opts); }; });

  // swarmctl task ...: work for a swarm's lead, which delegates subtasks.
  auto* task = app.add_subcommand("task", "Give a swarm's lead a task and follow it");
  task->require_subcommand(1);
  smol::cli::TaskRunOptions task_opts;
  std::string task_id;
  uint64_t budget_tokens = 0;
  auto* task_run = task->add_subcommand(
      "run", "Start a task; print its id (--wait: follow it and print its result)");
  task_run->add_option("SWARM", swarm, "Swarm name")->required();
  task_run->add_option("--input", task_opts.input_file,
                       "The task's input: a file, or - for stdin (default: none)")
      ->type_name("FILE");
  // Shadows the global --timeout after `task run`; that one still bounds
  // each call when given before `task`.
  task_run->add_option_function<std::string>(
              "--timeout",
              [&](const std::string& s) { task_opts.timeout = duration_arg("--timeout", s); },
              "Fail the task if it has not ended after DURATION (default: none)")
      ->type_name("DURATION");
  task_run->add_option("--budget-tokens", task_opts.budget_tokens,
                       "The task's token budget (default: the spec's task_budget)")
      ->type_name("N");
  task_run->add_flag("--wait", task_opts.wait,
                     "Show progress until the task ends, then its result; exit 1 unless it "
                     "succeeded");
  task_run->callback([&] {
    command = [&] { exit_status = smol::cli::task_run(g, swarm, task_opts); };
  });

  auto* task_ls = task->add_subcommand("ls", "List tasks, newest first");
  task_ls->add_option("SWARM", swarm, "Only this swarm's (default: every swarm's)");
  task_ls->callback([&] { command = [&] { smol::cli::task_ls(g, swarm); }; });

  auto* task_show = task->add_subcommand("show", "Show a task and its subtasks as a tree");
  task_show->add_option("ID", task_id, "Task id, e.g. t-00000000002a")->required();
  task_show->callback([&] { command = [&] { smol::cli::task_show(g, task_id); }; });

  auto* task_cancel = task->add_subcommand("cancel", "Cancel a running or paused task");
  task_cancel->add_option("ID", task_id, "Task id")->required();
  task_cancel->callback([&] { command = [&] { smol::cli::task_cancel(g, task_id); }; });

  auto* task_resume = task->add_subcommand("resume", "Let a paused task go on");
  task_resume->add_option("ID", task_id, "Task id")->required();
  task_resume->add_option("--budget-tokens", budget_tokens,
                          "Raise its token budget to N (default: unchanged)")
      ->type_name("N");
  task_resume->callback([&] {
    command = [&] { smol::cli::task_resume(g, task_id, budget_tokens); };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::RequiredError& e) {
    // CLI11 calls a mistyped command a missing one: name what was typed.
    std::vector<std::string> extra = app.remaining(true);
    if (extra.empty() || extra.front().starts_with("-")) return app.exit(e) == 0 ? 0 : Failure::kUsage;
    smol::cli::report_failure("unknown command '" + extra.front() + "' (see 'swarmctl --help')");
    return Failure::kUsage;
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help, the version, or the error
    return code == 0 ? 0 : Failure::kUsage;
  }
  command();
  return exit_status;
}

}  // namespace

int main(int argc, char** argv) {
  // Every way out is a message and an exit status; nothing escapes main.
  try {
    return run(argc, argv);
  } catch (const Failure& f) {
    smol::cli::report_failure(f.what());
    return f.exit_status();
  } catch (const kj::Exception& e) {
    smol::cli::report_failure(smol::cli::describe_rpc_failure(e));
  } catch (const std::exception& e) {
    smol::cli::report_failure(e.what());
  }
  return Failure::kFailed;
}
