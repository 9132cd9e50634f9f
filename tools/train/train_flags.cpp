#include "tools/train/train_flags.h"

#include "runtime/train/recipes.h"
#include "runtime/train/settings.h"

namespace gq::train {
namespace {

std::vector<std::string> flag_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options())
    if (!o->get_lnames().empty()) names.push_back("--" + o->get_lnames()[0]);
  return names;
}

void add_setting(CLI::App& app, const Setting& s) {
  CLI::Option* o = s.is_flag ? app.add_flag("--" + s.name, s.help)
                             : app.add_option("--" + s.name, s.help);
  o->group(s.group);
  if (s.is_flag) return;
  o->type_name(s.expects ? s.expects() : "PATH");
  const nlohmann::json& d = s.default_value;
  if (!(d.is_string() && d.get<std::string>().empty()))
    o->default_str(d.is_string() ? d.get<std::string>() : d.dump());
  if (s.check)
    o->check(CLI::Validator([&s](std::string& text) { return s.check(text); }, ""));
  if (s.is_path)  // a path: an empty one given would silently mean "none" (`--resume ""`)
    o->check(CLI::Validator(
        [](std::string& text) {
          return text.empty() ? std::string("expected a file or folder name, found an empty one")
                              : std::string();
        },
        ""));
}

}  // namespace

std::shared_ptr<ConfigFile> add_train_flags(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // last one wins
  // Any flag may also come from a TOML file: `batch-size = 256`, `gradqueue = true`; flags given
  // on the command line override it. The file is checked when the flag is parsed, before CLI11
  // opens it (trigger_on_parse), so a FIFO or /dev/zero is refused instead of read.
  auto config = std::make_shared<ConfigFile>(
      [&app](const std::string& key) { return app.get_option_no_throw("--" + key) != nullptr; });
  app.config_formatter(config);
  app.set_config("--config", "", "read flags from this TOML file (key = value per line)")
      ->trigger_on_parse()
      ->check(
          CLI::Validator([config](std::string& file) { return config->check_file(file); }, "FILE"));
  app.allow_config_extras(false);  // an unknown key in the file is an error, not ignored
  for (const Setting& s : all_settings()) add_setting(app, s);
  return config;
}

TrainConfig train_config(const CLI::App& app) {
  TrainConfig cfg;
  // A recipe first: the settings given with it override its values.
  if (const CLI::Option* recipe = app.get_option("--recipe"); recipe->count() > 0) {
    try {
      apply_recipe(recipe->as<std::string>(), cfg);
    } catch (const std::exception& e) {
      throw CLI::ValidationError(e.what());
    }
  }
  std::vector<const Setting*> given;
  for (const Setting& s : all_settings()) {
    const CLI::Option* o = app.get_option("--" + s.name);
    if (o->count() == 0) continue;
    s.assign(cfg, s.is_flag ? (o->as<bool>() ? "true" : "false") : o->as<std::string>());
    given.push_back(&s);
  }
  for (const Setting* s : given)
    if (const std::string why = why_no_effect(*s, cfg); !why.empty())
      throw CLI::ValidationError(why);
  return cfg;
}

std::string suggest_flag(const CLI::App& app, const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg.rfind("--", 0) != 0) continue;
    const std::string flag = arg.substr(0, arg.find('='));
    if (app.get_option_no_throw(flag) != nullptr) continue;
    const std::string near = closest(flag, flag_names(app));
    if (!near.empty()) return "; did you mean " + near + "?";
  }
  return {};
}

}  // namespace gq::train
