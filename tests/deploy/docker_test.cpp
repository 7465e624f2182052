// docker/ checked without a Docker engine (issue 12): the compose file validated by docker-compose and its stack's
// shape read from the validated form, Prometheus' configuration by promtool, the Dockerfile's runtime stage (runtime
// libraries only, every library of `ldd taxdesk` owned by a package it installs, a non-root user, a HEALTHCHECK on
// /readyz that works against a real engine), and every metric name the Grafana dashboard queries exported by
// `taxdesk serve`'s /metrics after some traffic. A missing tool (docker-compose, promtool, python3, dpkg) is a failure,
// never a skip: scripts/test installs them (docker-compose, which brings python3, and prometheus).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "connectors/stubs/demo_data/batch_generator.hpp"
#include "connectors/stubs/demo_data/population.hpp"
#include "fixtures/fault_report.hpp"
#include "fixtures/serve_process.hpp"
#include "fixtures/test_env.hpp"

using taxdesk::testing::ServeProcess;
using taxdesk::testing::StubsProcess;

namespace {

const std::string kSource = TAXDESK_SOURCE_DIR;
const std::string kBinary = TAXDESK_BINARY;

struct Ran {
    int rc = -1;
    std::string out;  ///< stdout and stderr
};

std::string quote(const std::string& word) {
    std::string quoted = "'";
    for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

/// Runs a shell command line; its exit code (127: not found) and output.
Ran run(const std::string& command) {
    Ran ran;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return ran;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) ran.out.append(buffer, n);
    const int status = ::pclose(pipe);
    ran.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return ran;
}

std::string readFile(const std::string& path) {
    std::ifstream in(path);
    EXPECT_TRUE(in) << "cannot read " << path;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// A YAML file (or YAML on stdin of `command`) as JSON, through python3's yaml (python3-yaml: a dependency of
/// Debian's docker-compose).
Poco::JSON::Object::Ptr yamlAsJson(const std::string& command) {
    const auto ran =
        run(command + " | python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'");
    EXPECT_EQ(ran.rc, 0) << ran.out;
    if (ran.rc != 0) return new Poco::JSON::Object;
    return Poco::JSON::Parser().parse(ran.out).extract<Poco::JSON::Object::Ptr>();
}

std::vector<std::string> strings(const Poco::JSON::Array::Ptr& array) {
    std::vector<std::string> values;
    if (array)
        for (std::size_t i = 0; i < array->size(); ++i) values.push_back(array->getElement<std::string>(i));
    return values;
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, separator)) parts.push_back(part);
    return parts;
}

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// ---- The Dockerfile ----------------------------------------------------------------------------------------------

struct Instruction {
    std::string keyword;  ///< upper case: FROM, RUN, USER, …
    std::string args;     ///< the rest, continuation lines joined
};
using Stage = std::vector<Instruction>;

/// The stages of a Dockerfile (each from its FROM on), comments dropped and `\` continuations joined.
std::vector<Stage> dockerStages(const std::string& text) {
    std::vector<Stage> stages;
    std::string logical;
    auto finish = [&] {
        const std::string line = trim(logical);
        logical.clear();
        if (line.empty()) return;
        const auto space = line.find_first_of(" \t");
        Instruction instruction{line.substr(0, space), space == std::string::npos ? "" : trim(line.substr(space))};
        std::transform(instruction.keyword.begin(), instruction.keyword.end(), instruction.keyword.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (instruction.keyword == "FROM") stages.emplace_back();
        if (!stages.empty()) stages.back().push_back(instruction);
    };
    for (const auto& raw : split(text, '\n')) {
        if (trim(raw).rfind('#', 0) == 0) continue;
        std::string line = raw;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty() && line.back() == '\\') {
            logical += line.substr(0, line.size() - 1) + " ";
            continue;
        }
        logical += line;
        finish();
    }
    finish();
    return stages;
}

/// The packages the stage's RUN instructions give to `apt-get install` (options left out).
std::vector<std::string> aptInstalled(const Stage& stage) {
    std::vector<std::string> packages;
    for (const auto& instruction : stage) {
        if (instruction.keyword != "RUN") continue;
        // Each command of the line: split at && ; and |.
        const std::string commands = std::regex_replace(instruction.args, std::regex(R"(&&|;|\|\|?)"), "\n");
        for (const auto& command : split(commands, '\n')) {
            std::istringstream words(command);
            std::vector<std::string> tokens;
            for (std::string word; words >> word;) tokens.push_back(word);
            const auto apt = std::find_if(tokens.begin(), tokens.end(),
                                          [](const std::string& w) { return w == "apt-get" || w == "apt"; });
            if (apt == tokens.end() || apt + 1 == tokens.end() || *(apt + 1) != "install") continue;
            for (auto it = apt + 2; it != tokens.end(); ++it)
                if (it->rfind('-', 0) != 0) packages.push_back(*it);
        }
    }
    return packages;
}

const Instruction* last(const Stage& stage, const std::string& keyword) {
    const Instruction* found = nullptr;
    for (const auto& instruction : stage)
        if (instruction.keyword == keyword) found = &instruction;
    return found;
}

/// The command of the runtime stage's HEALTHCHECK (shell form: what follows CMD).
std::string healthcheckCommand() {
    const auto stages = dockerStages(readFile(kSource + "/docker/Dockerfile"));
    if (stages.empty()) return "";
    const auto* healthcheck = last(stages.back(), "HEALTHCHECK");
    if (healthcheck == nullptr) return "";
    const auto cmd = healthcheck->args.find("CMD ");
    return cmd == std::string::npos ? "" : trim(healthcheck->args.substr(cmd + 4));
}

// ---- Debian packages (the dpkg database of this machine, where build/taxdesk was linked) ------------------------

struct InstalledPackage {
    bool base = false;  ///< Essential: yes or Priority: required (what debian:12-slim is made of)
    std::vector<std::vector<std::string>> depends;  ///< Pre-Depends and Depends: groups of alternatives
};

struct PackageDb {
    std::map<std::string, InstalledPackage> installed;
    std::map<std::string, std::vector<std::string>> providers;  ///< virtual package → installed packages giving it

    /// `name` or what provides it, among the installed packages ("" if none).
    [[nodiscard]] std::string resolve(const std::string& name) const {
        if (installed.count(name)) return name;
        const auto it = providers.find(name);
        return it == providers.end() || it->second.empty() ? "" : it->second.front();
    }

    /// Every installed package `roots` pull in through Pre-Depends and Depends (the roots included).
    [[nodiscard]] std::set<std::string> closure(const std::vector<std::string>& roots) const {
        std::set<std::string> seen;
        std::vector<std::string> todo(roots.begin(), roots.end());
        while (!todo.empty()) {
            const std::string name = resolve(todo.back());
            todo.pop_back();
            if (name.empty() || !seen.insert(name).second) continue;
            for (const auto& group : installed.at(name).depends)
                for (const auto& alternative : group)
                    if (!resolve(alternative).empty()) {
                        todo.push_back(alternative);
                        break;
                    }
        }
        return seen;
    }
};

/// "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any" → {{libc6}, {debconf, debconf-2.0}, {python3}}.
std::vector<std::vector<std::string>> parseDepends(const std::string& field) {
    std::vector<std::vector<std::string>> groups;
    for (const auto& group : split(field, ',')) {
        std::vector<std::string> alternatives;
        for (const auto& alternative : split(group, '|')) {
            std::string name = trim(alternative.substr(0, alternative.find('(')));
            name = name.substr(0, name.find(':'));
            if (!name.empty()) alternatives.push_back(name);
        }
        if (!alternatives.empty()) groups.push_back(alternatives);
    }
    return groups;
}

PackageDb readPackageDb() {
    PackageDb db;
    const auto ran =
        run("dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\t${Essential}\\t${Priority}\\t${Pre-Depends}, "
            "${Depends}\\t${Provides}\\n'");
    EXPECT_EQ(ran.rc, 0) << "dpkg-query: " << ran.out;
    for (const auto& line : split(ran.out, '\n')) {
        const auto fields = split(line, '\t');
        if (fields.size() < 5 || trim(fields[1]) != "ii") continue;
        InstalledPackage package;
        package.base = fields[2] == "yes" || fields[3] == "required";
        package.depends = parseDepends(fields[4]);
        db.installed[fields[0]] = package;
        if (fields.size() > 5)
            for (const auto& group : parseDepends(fields[5])) db.providers[group.front()].push_back(fields[0]);
    }
    return db;
}

/// The package owning each file (one dpkg -S for all), trying each path as given, resolved, and with or without
/// /usr (Debian 12 merged /lib into /usr/lib; dpkg's database names either); a file no package owns is left out.
std::map<std::string, std::string> owners(const std::vector<std::string>& paths) {
    std::map<std::string, std::vector<std::string>> candidatesOf;
    std::string line = "dpkg -S";
    for (const auto& path : paths) {
        std::vector<std::string> candidates{path};
        std::error_code error;
        const auto canonical = std::filesystem::canonical(path, error);
        if (!error) candidates.push_back(canonical.string());
        for (std::size_t i = 0, n = candidates.size(); i < n; ++i)
            candidates.push_back(candidates[i].rfind("/usr/", 0) == 0 ? candidates[i].substr(4)
                                                                      : "/usr" + candidates[i]);
        for (const auto& candidate : candidates) line += " " + quote(candidate);
        candidatesOf[path] = candidates;
    }
    // Exit code 1 when some candidate has no owner: expected (only one of each path's spellings is known).
    const auto ran = run(line);
    std::map<std::string, std::string> ownerOf;  // file → package
    for (const auto& output : split(ran.out, '\n')) {
        const auto separator = output.find(": /");  // "libc6:amd64: /lib/…" or "pkg1, pkg2: /path"
        if (separator == std::string::npos || output.rfind("diversion", 0) == 0) continue;
        ownerOf[output.substr(separator + 2)] = trim(output.substr(0, output.find_first_of(":,")));
    }
    std::map<std::string, std::string> result;
    for (const auto& [path, candidates] : candidatesOf)
        for (const auto& candidate : candidates)
            if (const auto it = ownerOf.find(candidate); it != ownerOf.end() && !result.count(path)) {
                result[path] = it->second;
            }
    return result;
}

/// The libraries the binary loads: every path `ldd` resolves (the whole tree, not only its own NEEDED).
std::vector<std::string> lddLibraries(const std::string& binary) {
    const auto ran = run("ldd " + quote(binary));
    EXPECT_EQ(ran.rc, 0) << ran.out;
    std::vector<std::string> paths;
    static const std::regex resolved(R"(=>\s*(/\S+))");
    static const std::regex loader(R"(^\s*(/\S+)\s+\(0x)");
    for (const auto& line : split(ran.out, '\n')) {
        std::smatch match;
        if (std::regex_search(line, match, resolved) || std::regex_search(line, match, loader))
            paths.push_back(match[1]);
        else
            EXPECT_TRUE(line.find("linux-vdso") != std::string::npos || trim(line).empty())
                << "ldd cannot resolve: " << line;
    }
    return paths;
}

// ---- PromQL and the Prometheus text format -------------------------------------------------------------------------

/// The metric names a PromQL expression selects: identifiers that are not functions (followed by `(`), keywords or
/// aggregation modifiers, with label matchers, label lists, ranges and strings left out.
std::set<std::string> metricNames(const std::string& expr) {
    std::string text = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*"|'(\\.|[^'\\])*')"), " ");
    text = std::regex_replace(text, std::regex(R"(\{[^}]*\})"), " ");
    text = std::regex_replace(text, std::regex(R"(\[[^\]]*\])"), " ");
    text =
        std::regex_replace(text, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
    static const std::set<std::string> keywords{"by",          "without", "on",  "ignoring", "group_left",
                                                "group_right", "bool",    "and", "or",       "unless",
                                                "offset",      "inf",     "nan", "atan2"};
    std::set<std::string> names;
    static const std::regex identifier(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), identifier); it != std::sregex_iterator(); ++it) {
        const std::string name = it->str();
        const auto position = static_cast<std::size_t>(it->position());
        if (position > 0 && (std::isalnum(static_cast<unsigned char>(text[position - 1])) || text[position - 1] == '.'))
            continue;  // part of a number such as 1e3 or 0.5
        const auto next = text.find_first_not_of(" \t\n", position + name.size());
        if (next != std::string::npos && text[next] == '(') continue;  // a function or aggregation
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (keywords.count(lower)) continue;
        names.insert(name);
    }
    return names;
}

/// Every `expr` in a Grafana dashboard (panels, rows' panels, targets, templating), found wherever it is.
void collectExprs(const Poco::Dynamic::Var& value, std::vector<std::string>& exprs) {
    if (value.type() == typeid(Poco::JSON::Object::Ptr)) {
        const auto& object = value.extract<Poco::JSON::Object::Ptr>();
        for (const auto& [key, item] : *object) {
            if (key == "expr" && item.isString())
                exprs.push_back(item.toString());
            else
                collectExprs(item, exprs);
        }
    } else if (value.type() == typeid(Poco::JSON::Array::Ptr)) {
        for (const auto& item : *value.extract<Poco::JSON::Array::Ptr>()) collectExprs(item, exprs);
    }
}

/// A /metrics scrape: each family's TYPE, and the sample names present.
struct Exposition {
    std::map<std::string, std::string> types;  ///< family → counter, gauge, histogram, summary, untyped
    std::set<std::string> samples;             ///< sample names (taxdesk_x_bucket, taxdesk_x_count, …)
};

Exposition parseExposition(const std::string& text) {
    Exposition exposition;
    static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) ([a-z]+)\s*$)");
    static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ])");
    for (const auto& line : split(text, '\n')) {
        std::smatch match;
        if (std::regex_match(line, match, type))
            exposition.types[match[1]] = match[2];
        else if (line.rfind('#', 0) != 0 && std::regex_search(line, match, sample))
            exposition.samples.insert(match[1]);
    }
    return exposition;
}

/// Whether a name a query selects is exported: a family with samples (a counter or gauge by its own name), or a
/// histogram's `_bucket`, `_sum`, `_count` series or a summary's `_sum`, `_count` series of a family that has them.
/// A suffix is only taken off when what remains is such a family: `x_count` of a counter named `x_count` is that
/// counter, and `x_total_bucket` of a counter `x_total` is not exported.
bool exported(const Exposition& exposition, const std::string& name) {
    if (const auto it = exposition.types.find(name); it != exposition.types.end())
        return it->second != "histogram" && it->second != "summary" && exposition.samples.count(name);
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        const auto family = exposition.types.find(name.substr(0, name.size() - suffix.size()));
        if (family == exposition.types.end()) continue;
        const bool fits = family->second == "histogram" || (family->second == "summary" && suffix != "_bucket");
        return fits && exposition.samples.count(name);
    }
    return false;
}

/// The services of the validated compose file (`docker-compose config`) as JSON.
Poco::JSON::Object::Ptr composeServices() {
    const auto config = yamlAsJson("docker-compose -f " + quote(kSource + "/docker/docker-compose.yml") + " config");
    const auto services = config->getObject("services");
    EXPECT_TRUE(services) << "no services in the compose file";
    return services ? services : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
}

std::vector<std::string> command(const Poco::JSON::Object::Ptr& service) {
    return strings(service->getArray("command"));
}

std::string env(const Poco::JSON::Object::Ptr& service, const std::string& name) {
    const auto environment = service->getObject("environment");
    return environment && environment->has(name) ? environment->getValue<std::string>(name) : "";
}

/// `--set key=value` of a command line ("" when absent).
std::string setting(const std::vector<std::string>& args, const std::string& key) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--set" && args[i + 1].rfind(key + "=", 0) == 0) return args[i + 1].substr(key.size() + 1);
    return "";
}

}  // namespace

// ---- The tools' own checks ---------------------------------------------------------------------------------------

TEST(DockerCompose, ConfigValidatesWithDockerCompose) {
    const auto ran = run("docker-compose -f " + quote(kSource + "/docker/docker-compose.yml") + " config -q");
    EXPECT_EQ(ran.rc, 0) << "docker-compose config (exit " << ran.rc << "; 127: docker-compose is not installed)\n"
                         << ran.out;
}

TEST(Prometheus, ConfigPassesPromtool) {
    const auto ran = run("promtool check config " + quote(kSource + "/docker/prometheus.yml"));
    EXPECT_EQ(ran.rc, 0) << "promtool check config (exit " << ran.rc << "; 127: promtool, Debian package prometheus, "
                         << "is not installed)\n"
                         << ran.out;
}

// ---- The compose stack's shape ---------------------------------------------------------------------------------

TEST(DockerCompose, ThreeKraftNodesInOneQuorum) {
    const auto services = composeServices();
    std::map<std::string, std::string> nodeOf;  // service → KAFKA_NODE_ID
    std::set<std::string> voters;
    for (const auto& [name, value] : *services) {
        const auto service = value.extract<Poco::JSON::Object::Ptr>();
        if (service->optValue<std::string>("image", "").find("kafka") == std::string::npos) continue;
        const auto roles = split(env(service, "KAFKA_PROCESS_ROLES"), ',');
        EXPECT_EQ(std::set<std::string>(roles.begin(), roles.end()), (std::set<std::string>{"broker", "controller"}))
            << name << " is not a combined broker and controller";
        nodeOf[name] = env(service, "KAFKA_NODE_ID");
        const auto list = split(env(service, "KAFKA_CONTROLLER_QUORUM_VOTERS"), ',');
        std::set<std::string> these(list.begin(), list.end());
        if (voters.empty()) voters = these;
        EXPECT_EQ(these, voters) << name << " names other voters";
        EXPECT_EQ(env(service, "KAFKA_AUTO_CREATE_TOPICS_ENABLE"), "false") << name;
    }
    ASSERT_EQ(nodeOf.size(), 3u) << "three Kafka nodes";
    std::set<std::string> expected;
    for (const auto& [name, id] : nodeOf) expected.insert(id + "@" + name + ":9093");
    EXPECT_EQ(voters, expected) << "the quorum is the three nodes, each by its own id";
}

TEST(DockerCompose, EnginesOnPostgresqlWaitForTheTopicsJob) {
    const auto services = composeServices();
    ASSERT_TRUE(services->has("topics"));
    const auto topics = services->getObject("topics");
    const auto create = command(topics);
    ASSERT_GE(create.size(), 2u);
    EXPECT_EQ(std::vector<std::string>(create.begin(), create.begin() + 2),
              (std::vector<std::string>{"topics", "create"}));
    const std::string partitions = setting(create, "kafka.topic_partitions");
    const std::string replication = setting(create, "kafka.replication_factor");
    EXPECT_FALSE(partitions.empty()) << "topics create without --set kafka.topic_partitions";
    EXPECT_EQ(replication, "3") << "replication factor 3 on the three nodes";

    std::set<std::string> instances;
    std::vector<std::string> engines;
    std::vector<std::string> scrapeTargets;  // each engine at its http.port (the image's default 8080)
    for (const auto& [name, value] : *services) {
        const auto service = value.extract<Poco::JSON::Object::Ptr>();
        const auto args = command(service);
        if (args.empty() || args.front() != "serve") continue;
        engines.push_back(name);
        const auto dependsOn = service->getObject("depends_on");
        ASSERT_TRUE(dependsOn && dependsOn->has("topics")) << name << " does not wait for the topics job";
        EXPECT_EQ(dependsOn->getObject("topics")->getValue<std::string>("condition"), "service_completed_successfully")
            << name;
        EXPECT_EQ(env(service, "TAXDESK_STORE_BACKEND"), "postgresql") << name;
        EXPECT_EQ(env(service, "TAXDESK_BROKER_PARTITIONS"), partitions)
            << name << ": broker.partitions must be the topics' partition count";
        EXPECT_EQ(env(service, "TAXDESK_KAFKA_BOOTSTRAP"), env(topics, "TAXDESK_KAFKA_BOOTSTRAP")) << name;
        instances.insert(env(service, "TAXDESK_KAFKA_INSTANCE_ID"));
        const std::string port = env(service, "TAXDESK_HTTP_PORT");
        scrapeTargets.push_back(name + ":" + (port.empty() ? "8080" : port));

        // The engine accepts its environment: every TAXDESK_ variable names a key, every value is valid.
        std::string line = "env -i";
        for (const auto& [variable, assigned] : *service->getObject("environment"))
            line += " " + quote(variable + "=" + assigned.toString());
        const auto checked =
            run(line + " " + quote(kBinary) + " --config " + quote(kSource + "/config/taxdesk.properties") + " config");
        EXPECT_EQ(checked.rc, 0) << name << "'s environment refused by `taxdesk config`:\n" << checked.out;
    }
    EXPECT_GE(engines.size(), 2u) << "two engine replicas";
    EXPECT_EQ(instances.size(), engines.size()) << "each engine needs its own kafka.instance_id";
    EXPECT_FALSE(instances.count("")) << "an engine without kafka.instance_id";

    // Prometheus scrapes every engine.
    const auto prometheus = yamlAsJson("cat " + quote(kSource + "/docker/prometheus.yml"));
    std::set<std::string> targets;
    const auto jobs = prometheus->getArray("scrape_configs");
    for (std::size_t i = 0; jobs && i < jobs->size(); ++i) {
        const auto statics = jobs->getObject(i)->getArray("static_configs");
        for (std::size_t j = 0; statics && j < statics->size(); ++j)
            for (const auto& target : strings(statics->getObject(j)->getArray("targets"))) targets.insert(target);
    }
    for (const auto& target : scrapeTargets) EXPECT_TRUE(targets.count(target)) << target << " is not scraped";
}

TEST(DockerCompose, GrafanaProvisionsTheDataSourceAndTheDashboardFromSeparateFiles) {
    const auto services = composeServices();
    ASSERT_TRUE(services->has("grafana"));
    std::map<std::string, std::string> mounted;  // container path → host file
    for (const auto& volume : *services->getObject("grafana")->getArray("volumes")) {
        const auto parts = split(volume.toString(), ':');
        ASSERT_GE(parts.size(), 2u) << volume.toString();
        mounted[parts[1]] = parts[0];
    }
    std::string datasources, providers, dashboardDir, dashboardFile;
    for (const auto& [inside, host] : mounted) {
        if (inside.rfind("/etc/grafana/provisioning/datasources/", 0) == 0) datasources = host;
        if (inside.rfind("/etc/grafana/provisioning/dashboards/", 0) == 0) providers = host;
        if (inside.size() > 5 && inside.substr(inside.size() - 5) == ".json") {
            dashboardDir = inside.substr(0, inside.rfind('/'));
            dashboardFile = host;
        }
    }
    ASSERT_FALSE(datasources.empty()) << "no data source provisioning file mounted";
    ASSERT_FALSE(providers.empty()) << "no dashboard provider file mounted";
    ASSERT_FALSE(dashboardFile.empty()) << "no dashboard mounted";
    EXPECT_NE(datasources, providers) << "one file mounted as both the data source and the dashboard provider";

    const auto source = yamlAsJson("cat " + quote(datasources));
    EXPECT_FALSE(source->has("providers")) << datasources;
    const auto sources = source->getArray("datasources");
    ASSERT_TRUE(sources && sources->size() == 1) << datasources << ": one data source";
    EXPECT_EQ(sources->getObject(0)->getValue<std::string>("type"), "prometheus");
    EXPECT_EQ(sources->getObject(0)->getValue<std::string>("url"), "http://prometheus:9090");
    const auto uid = sources->getObject(0)->getValue<std::string>("uid");

    const auto provider = yamlAsJson("cat " + quote(providers));
    EXPECT_FALSE(provider->has("datasources")) << providers;
    const auto list = provider->getArray("providers");
    ASSERT_TRUE(list && list->size() == 1) << providers << ": one provider";
    EXPECT_EQ(list->getObject(0)->getObject("options")->getValue<std::string>("path"), dashboardDir)
        << "the provider reads where the dashboard is mounted";

    // Every panel's data source is the provisioned one.
    const auto dashboard = Poco::JSON::Parser().parse(readFile(dashboardFile)).extract<Poco::JSON::Object::Ptr>();
    int panels = 0;
    for (const auto& panel : *dashboard->getArray("panels")) {
        const auto& object = panel.extract<Poco::JSON::Object::Ptr>();
        if (!object->has("targets")) continue;
        ++panels;
        EXPECT_EQ(object->getObject("datasource")->getValue<std::string>("uid"), uid)
            << object->getValue<std::string>("title");
    }
    EXPECT_GT(panels, 0);
}

// ---- The Dockerfile ----------------------------------------------------------------------------------------------

TEST(Dockerfile, RuntimeStageHasRuntimePackagesOnlyAndRunsAsAUser) {
    const auto stages = dockerStages(readFile(kSource + "/docker/Dockerfile"));
    ASSERT_GE(stages.size(), 2u) << "a multi-stage build";
    const Stage& build = stages.front();
    const Stage& runtime = stages.back();
    EXPECT_EQ(split(build.front().args, ' ').front(), "debian:12");
    EXPECT_EQ(split(runtime.front().args, ' ').front(), "debian:12-slim");

    // The build stage has every -dev package scripts/lib/common.sh installs (TD_PACKAGES).
    const std::string common = readFile(kSource + "/scripts/lib/common.sh");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(common, match, std::regex(R"(TD_PACKAGES=\(([^)]*)\))")));
    std::istringstream words(match[1].str());
    const auto built = aptInstalled(build);
    for (std::string package; words >> package;) {
        if (package.size() > 4 && package.substr(package.size() - 4) == "-dev") {
            EXPECT_NE(std::find(built.begin(), built.end(), package), built.end())
                << "the build stage lacks " << package << " (TD_PACKAGES)";
        }
    }

    const auto installed = aptInstalled(runtime);
    EXPECT_FALSE(installed.empty());
    for (const auto& package : installed) {
        EXPECT_EQ(package.find("-dev"), std::string::npos) << "a -dev package in the runtime stage: " << package;
        EXPECT_NE(package, "build-essential");
    }
    bool copiesBinary = false;
    for (const auto& instruction : runtime)
        copiesBinary |= instruction.keyword == "COPY" && instruction.args.find("--from=") != std::string::npos &&
                        instruction.args.find("taxdesk") != std::string::npos;
    EXPECT_TRUE(copiesBinary) << "the runtime stage copies the binary from the build stage";

    const auto* user = last(runtime, "USER");
    ASSERT_NE(user, nullptr) << "no USER: the container runs as root";
    const std::string name = split(user->args, ':').front();
    EXPECT_TRUE(name != "root" && name != "0" && !name.empty()) << "USER " << user->args;

    const auto* healthcheck = last(runtime, "HEALTHCHECK");
    ASSERT_NE(healthcheck, nullptr);
    EXPECT_NE(healthcheck->args.find("/readyz"), std::string::npos) << healthcheck->args;
    EXPECT_NE(healthcheck->args.find("CMD "), std::string::npos) << healthcheck->args;
}

TEST(Dockerfile, EveryLibraryTheBinaryLoadsComesFromARuntimePackage) {
    const auto stages = dockerStages(readFile(kSource + "/docker/Dockerfile"));
    ASSERT_FALSE(stages.empty());
    const auto runtime = aptInstalled(stages.back());
    const PackageDb db = readPackageDb();
    ASSERT_FALSE(db.installed.empty());

    // Every package the runtime stage names is a package of this Debian (installed here, as the binary was linked
    // against them): a misspelt one would fail the image's build.
    for (const auto& package : runtime)
        EXPECT_TRUE(db.installed.count(package)) << package << " (runtime stage) is not an installed Debian package";

    // debian:12-slim: the essential and required packages and what they depend on.
    std::vector<std::string> baseRoots;
    for (const auto& [name, package] : db.installed)
        if (package.base) baseRoots.push_back(name);
    const auto base = db.closure(baseRoots);
    ASSERT_TRUE(base.count("libc6"));
    const auto image = db.closure(runtime);

    // The libraries the binary names itself (NEEDED) come from packages the stage lists or the base image has...
    const auto dynamic = run("objdump -p " + quote(kBinary));
    ASSERT_EQ(dynamic.rc, 0) << dynamic.out;
    std::set<std::string> needed;
    static const std::regex neededLine(R"(^\s*NEEDED\s+(\S+))");
    for (const auto& line : split(dynamic.out, '\n')) {
        std::smatch match;
        if (std::regex_search(line, match, neededLine)) needed.insert(match[1]);
    }
    ASSERT_FALSE(needed.empty());

    // ...and every library ldd resolves (the whole tree) from a package the image then holds.
    std::vector<std::string> missing;
    int checked = 0;
    const auto libraries = lddLibraries(kBinary);
    const auto ownerOf = owners(libraries);
    for (const auto& path : libraries) {
        const auto found = ownerOf.find(path);
        const std::string package = found == ownerOf.end() ? "" : found->second;
        const std::string file = path.substr(path.rfind('/') + 1);
        ++checked;
        if (package.empty()) {
            missing.push_back(path + " (no package owns it)");
        } else if (needed.count(file) && !base.count(package) &&
                   std::find(runtime.begin(), runtime.end(), package) == runtime.end()) {
            missing.push_back(path + " (" + package + ": the binary links it; list it in the runtime stage)");
        } else if (!base.count(package) && !image.count(package)) {
            missing.push_back(path + " (" + package + ")");
        }
    }
    EXPECT_GE(checked, static_cast<int>(needed.size()));
    std::string list;
    for (const auto& item : missing) list += "\n  " + item;
    EXPECT_TRUE(missing.empty()) << "libraries of " << kBinary << " the runtime stage does not install:" << list;
}

TEST(Dockerfile, HealthcheckPassesOnAReadyEngineOnly) {
    const std::string healthcheck = healthcheckCommand();
    ASSERT_FALSE(healthcheck.empty()) << "no HEALTHCHECK … CMD in the runtime stage";
    // Runs it as Docker does (/bin/sh -c), with the engine's port in TAXDESK_HTTP_PORT.
    auto probe = [&](int port) {
        return run("env TAXDESK_HTTP_PORT=" + std::to_string(port) + " timeout 10 sh -c " + quote(healthcheck));
    };
    const int closed = taxdesk::testing::freePort();
    EXPECT_NE(probe(closed).rc, 0) << "the health check passes with nothing listening";

    ServeProcess engine;
    const auto ready = probe(engine.port());
    EXPECT_EQ(ready.rc, 0) << "the health check fails on a ready engine:\n" << ready.out;

    // An engine that is up but not ready (its Redis away): /readyz answers 503, and the check fails.
    ServeProcess unready({"redis.port=" + std::to_string(taxdesk::testing::freePort())}, false);
    ASSERT_NE(unready.request("GET", "/readyz").status, 200);
    EXPECT_NE(probe(unready.port()).rc, 0) << "the health check passes on an engine that is not ready";
}

// ---- The dashboard against /metrics -------------------------------------------------------------------------------

TEST(GrafanaDashboard, MetricNamesFromQueries) {
    // Hand-read from each expression.
    EXPECT_EQ(metricNames(R"(sum by (pipeline) (rate(taxdesk_pipeline_messages_total{direction="out"}[1m])))"),
              (std::set<std::string>{"taxdesk_pipeline_messages_total"}));
    EXPECT_EQ(metricNames(R"(histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket{a="b c"}[5m]))))"),
              (std::set<std::string>{"x_seconds_bucket"}));
    EXPECT_EQ(metricNames("sum(rate(a_total[5m])) / ignoring(result) sum(rate(b_total[5m])) * 60 > 1e3"),
              (std::set<std::string>{"a_total", "b_total"}));
    EXPECT_EQ(metricNames("up == 0 or on(instance) max without (job) (taxdesk_x) offset 5m"),
              (std::set<std::string>{"up", "taxdesk_x"}));
}

TEST(GrafanaDashboard, SuffixesTakenOffOnlyForHistogramsAndSummaries) {
    const auto exposition = parseExposition(
        "# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 2\nh_seconds_sum 1\nh_seconds_count 2\n"
        "# TYPE s summary\ns_sum 1\ns_count 1\n"
        "# TYPE c_total counter\nc_total 3\n"
        "# TYPE c_count counter\nc_count 3\n"
        "# TYPE g gauge\n");
    EXPECT_TRUE(exported(exposition, "h_seconds_bucket"));
    EXPECT_TRUE(exported(exposition, "h_seconds_sum"));
    EXPECT_TRUE(exported(exposition, "h_seconds_count"));
    EXPECT_FALSE(exported(exposition, "h_seconds")) << "a histogram is queried by its series";
    EXPECT_TRUE(exported(exposition, "s_count"));
    EXPECT_FALSE(exported(exposition, "s_bucket")) << "a summary has no buckets";
    EXPECT_TRUE(exported(exposition, "c_total"));
    EXPECT_FALSE(exported(exposition, "c_total_bucket")) << "a counter has no buckets";
    EXPECT_FALSE(exported(exposition, "c")) << "c_total is not c";
    EXPECT_TRUE(exported(exposition, "c_count")) << "a counter named c_count";
    EXPECT_FALSE(exported(exposition, "g")) << "a family without samples";
    EXPECT_FALSE(exported(exposition, "nothing"));
}

TEST(GrafanaDashboard, EveryQueriedMetricIsExportedByServe) {
    const auto dashboard = Poco::JSON::Parser().parse(readFile(kSource + "/docker/grafana/taxdesk-dashboard.json"));
    std::vector<std::string> exprs;
    collectExprs(dashboard, exprs);
    ASSERT_FALSE(exprs.empty()) << "no queries in the dashboard";
    std::set<std::string> queried;
    for (const auto& expr : exprs)
        for (const auto& name : metricNames(expr)) queried.insert(name);
    ASSERT_FALSE(queried.empty());

    // The engine as the compose stack runs it (HTTP connectors against the stubs), with a paid batch and SMS.
    StubsProcess stubs({"payment.stub_balance=100000000"});
    ServeProcess engine(stubs.connectorSets());
    const auto creditor = engine.createToken("creditor", "C1");
    const auto gateway = engine.createToken("gateway");
    taxdesk::demo_data::BatchGenOptions options;
    options.rows = 20;
    options.badFraction = 0.1;
    std::ostringstream file;
    const auto report = taxdesk::demo_data::writeBatchCsv(file, options);
    const auto uploaded = engine.request("POST", "/api/v1/batches", creditor, file.str(), "text/csv");
    ASSERT_EQ(uploaded.status, 201) << uploaded.body;
    const auto id =
        Poco::JSON::Parser().parse(uploaded.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("batch_id");
    const auto paid = engine.request("POST", "/api/v1/batches/" + id + "/payment", creditor,
                                     R"({"method":"easycard","card_id":"EC-1","idempotency_key":"d-)" + id + "\"}");
    ASSERT_EQ(paid.status, 201) << paid.body;
    const taxdesk::demo_data::Population population(20261126);
    for (int i = 0; i < 2; ++i) {
        const auto person = population.nationalIdAt(910000 + static_cast<std::uint64_t>(i));
        const std::string body = R"({"msisdn":"09770001)" + std::to_string(10 + i) + R"(","text":"1 )" + person + " " +
                                 population.nhiCardNumber(person).substr(8) + R"(","gateway_msg_id":"d-)" + id +
                                 std::to_string(i) + "\"}";
        ASSERT_EQ(engine.request("POST", "/api/v1/sms/inbound", gateway, body, "application/json").status, 202);
    }

    // Waits (bounded) until the rows and the replies went through and every queried name is there (some appear
    // only after a while: the consumer lag after a commit interval), then says which are missing.
    Exposition exposition;
    bool through = false;
    std::string missing;
    taxdesk::testing::eventually(
        [&] {
            const auto scraped = engine.request("GET", "/metrics");
            exposition = parseExposition(scraped.body);
            auto value = [&](const std::string& key) {
                const auto at = scraped.body.find("\n" + key + " ");
                return at == std::string::npos ? 0.0 : std::stod(scraped.body.substr(at + key.size() + 2));
            };
            through = value(R"(taxdesk_pipeline_messages_total{direction="out",pipeline="inquiry"})") >=
                          static_cast<double>(report.good) &&
                      value("taxdesk_sms_segments_sent_total") >= 2;
            missing.clear();
            for (const auto& name : queried)
                if (!exported(exposition, name)) missing += " " + name;
            return through && missing.empty();
        },
        std::chrono::seconds(90));
    EXPECT_TRUE(through) << "the batch's rows or the SMS replies did not go through";
    EXPECT_TRUE(missing.empty()) << "metrics the dashboard queries that /metrics does not export:" << missing;
    std::cout << "dashboard: " << exprs.size() << " queries, " << queried.size()
              << " metric names, all exported: " << (missing.empty() ? "yes" : "no") << "\n";
}
