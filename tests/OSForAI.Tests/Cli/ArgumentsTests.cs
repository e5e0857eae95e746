using OSForAI.Cli;

namespace OSForAI.Tests.Cli;

public class ArgumentsTests
{
    private static Arguments Parse(params string[] args) =>
        Arguments.Parse(args, ["name", "version", "url"], ["public", "private"]);

    [Fact]
    public void Parses_positionals_options_and_flags()
    {
        var args = Parse("dir", "--name", "alice/hello", "--version=1.2.3", "--public", "extra");

        Assert.Equal(["dir", "extra"], args.Positionals);
        Assert.Equal("alice/hello", args.Get("name"));
        Assert.Equal("1.2.3", args.Get("version"));
        Assert.True(args.Has("public"));
        Assert.False(args.Has("private"));
        Assert.Null(args.Get("url"));
        Assert.False(args.HelpRequested);
    }

    [Fact]
    public void Last_value_of_a_repeated_option_wins()
    {
        Assert.Equal("b", Parse("--name", "a", "--name", "b").Get("name"));
    }

    [Fact]
    public void Option_value_may_be_empty_with_equals_sign_or_start_with_a_dash()
    {
        Assert.Equal("", Parse("--name=").Get("name"));
        Assert.Equal("--weird", Parse("--name", "--weird").Get("name"));
    }

    [Fact]
    public void Missing_value_is_a_usage_error()
    {
        var e = Assert.Throws<UsageException>(() => Parse("dir", "--name"));
        Assert.Contains("--name needs a value", e.Message);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--bogus=1")]
    [InlineData("-x")]
    [InlineData("---")]
    public void Unknown_options_are_usage_errors(string option)
    {
        var e = Assert.Throws<UsageException>(() => Parse("dir", option));
        Assert.Contains("unknown option", e.Message);
    }

    [Fact]
    public void Flag_with_a_value_is_a_usage_error()
    {
        var e = Assert.Throws<UsageException>(() => Parse("--public=yes"));
        Assert.Contains("does not take a value", e.Message);
    }

    [Fact]
    public void Dash_negative_numbers_and_everything_after_double_dash_are_positional()
    {
        var args = Parse("-", "-5", "-0.5", "--", "--name", "-x");

        Assert.Equal(["-", "-5", "-0.5", "--name", "-x"], args.Positionals);
        Assert.Null(args.Get("name"));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public void Help_is_always_accepted(string flag)
    {
        Assert.True(Parse("x", flag).HelpRequested);
    }

    [Fact]
    public void Require_reports_missing_option_clearly()
    {
        var e = Assert.Throws<UsageException>(() => Parse().Require("name", "OWNER/NAME"));
        Assert.Equal("--name is required (OWNER/NAME)", e.Message);
    }

    [Fact]
    public void ExpectPositionals_checks_bounds()
    {
        Assert.Throws<UsageException>(() => Parse().ExpectPositionals(1, 1, "DIR"));
        var e = Assert.Throws<UsageException>(() => Parse("a", "b").ExpectPositionals(1, 1, "DIR"));
        Assert.Contains("unexpected argument 'b'", e.Message);
        Parse("a").ExpectPositionals(1, 1, "DIR");
    }
}

public class CliDispatchTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public async Task Main_help_goes_to_stdout_with_exit_0(string flag)
    {
        var run = await CliRunner.RunAsync([flag]);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Usage: osai <command>", run.Out);
        Assert.Contains("algo publish", run.Out);
        Assert.Equal("", run.Error);
    }

    [Theory]
    [InlineData("Usage: osai serve", "serve", "--help")]
    [InlineData("Usage: osai keys create", "keys", "create", "--help")]
    [InlineData("Usage: osai keys <create|list|revoke>", "keys", "--help")]
    [InlineData("Usage: osai algo publish", "algo", "publish", "-h")]
    [InlineData("Usage: osai call", "call", "--help")]
    [InlineData("Usage: osai algo publish", "help", "algo", "publish")]
    [InlineData("Usage: osai algo <publish|build|list|info|deprecate|delete|audit>", "help", "algo")]
    public async Task Command_help(string expected, params string[] args)
    {
        var run = await CliRunner.RunAsync(args);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains(expected, run.Out);
    }

    [Fact]
    public async Task No_arguments_prints_usage_with_exit_2()
    {
        var run = await CliRunner.RunAsync([]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("Usage: osai <command>", run.Error);
    }

    [Theory]
    [InlineData("unknown command 'frobnicate'", "frobnicate")]
    [InlineData("unknown option '--frob'", "--frob")]
    [InlineData("unknown command 'keys frob'", "keys", "frob")]
    [InlineData("keys: missing subcommand", "keys")]
    [InlineData("unknown command 'nope'", "help", "nope")]
    public async Task Unknown_commands_are_usage_errors(string message, params string[] args)
    {
        var run = await CliRunner.RunAsync(args);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"error: {message}", run.Error);
        Assert.Contains("Usage: osai", run.Error);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task Unknown_option_of_a_command_shows_that_commands_usage()
    {
        var run = await CliRunner.RunAsync(["keys", "list", "--bogus"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error: keys list: unknown option '--bogus'", run.Error);
        Assert.Contains("Usage: osai keys list", run.Error);
    }

    [Fact]
    public async Task Missing_option_value_is_exit_2()
    {
        var run = await CliRunner.RunAsync(["algo", "publish", "dir", "--name"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--name needs a value", run.Error);
    }

    [Fact]
    public async Task Keys_create_requires_owner_and_scopes()
    {
        var noOwner = await CliRunner.RunAsync(["keys", "create", "--scopes", "call", "--url", "http://127.0.0.1:9"]);
        Assert.Equal(2, noOwner.ExitCode);
        Assert.Contains("--owner is required", noOwner.Error);

        var noScopes = await CliRunner.RunAsync(["keys", "create", "--owner", "alice", "--url", "http://127.0.0.1:9"]);
        Assert.Equal(2, noScopes.ExitCode);
        Assert.Contains("--scopes is required", noScopes.Error);

        var emptyScopes = await CliRunner.RunAsync(["keys", "create", "--owner", "alice", "--scopes", " , ", "--url", "http://127.0.0.1:9"]);
        Assert.Equal(2, emptyScopes.ExitCode);
        Assert.Contains("at least one scope", emptyScopes.Error);
    }

    [Fact]
    public async Task Serve_rejects_a_bad_port_before_starting()
    {
        var run = await CliRunner.RunAsync(["serve", "--port", "http"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--port must be a number from 0 to 65535", run.Error);
    }

    [Fact]
    public async Task Serve_takes_a_postgres_state_uri_and_refuses_anything_else()
    {
        var run = await CliRunner.RunAsync(["serve", "--state", "mysql://u:secretpw@h/db"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--state must be a postgres:// or postgresql:// URI", run.Error);
        Assert.DoesNotContain("secretpw", run.Error);

        var options = OSForAI.Cli.Commands.ServeCommand.BuildOptions(
            OSForAI.Cli.Arguments.Parse(["--state", "postgresql://u:p@h:5433/db", "--home", Path.GetTempPath()], ["state", "home"], []),
            new OSForAI.Cli.CliHost { Out = TextWriter.Null, Error = TextWriter.Null });
        Assert.Equal("postgresql://u:p@h:5433/db", options.Settings["OSForAI:State"]);
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("postgres://u:p@h:5432/db?sslmode=require", null)]
    [InlineData("Host=h;Username=u", "must be empty (SQLite in the home folder) or a postgres://")]
    [InlineData("postgres://u:secretpw@h:99999/db", "port '99999'")]
    public void The_state_setting_is_checked_at_start(string state, string? error)
    {
        var errors = OSForAI.Runtime.OsaiOptionsValidation.Errors(new OSForAI.Runtime.OsaiOptions { State = state });
        if (error is null) Assert.Empty(errors);
        else Assert.Contains(errors, e => e.StartsWith("OSForAI:State", StringComparison.Ordinal) && e.Contains(error) && !e.Contains("secretpw"));
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("osai_0a1b2c3d4e5f6071_Zq3xY8wVb2Nc5Md7Lf9Kg1Hj4Pt6Rs0Uv", true)]
    [InlineData("osai_0A1B_Zq3xY8wVb2Nc5Md7Lf9Kg1Hj4Pt6Rs0Uv", false)]
    [InlineData("osai_0a1b2c3d4e5f6071_tooShortSecret", false)]
    [InlineData("Zq3xY8wVb2Nc5Md7Lf9Kg1Hj4Pt6Rs0Uv", false)]
    public void The_admin_key_setting_is_checked_at_start_without_showing_it(string key, bool valid)
    {
        var errors = OSForAI.Runtime.OsaiOptionsValidation.Errors(new OSForAI.Runtime.OsaiOptions { AdminKey = key });
        if (valid) Assert.Empty(errors);
        else Assert.Contains(errors, e => e.StartsWith("OSForAI:AdminKey must look like", StringComparison.Ordinal) && !e.Contains("Zq3xY8"));
    }

    [Fact]
    public async Task Version_is_printed()
    {
        var run = await CliRunner.RunAsync(["--version"]);

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("osai ", run.Out);
    }
}

public sealed class LeadingClientOptionTests
{
    [Fact]
    public void Client_options_before_the_command_move_behind_it()
    {
        Assert.Equal(["keys", "list", "--home", "/h", "--url=http://x"],
            OSForAI.Cli.Cli.MoveLeadingClientOptions(["--home", "/h", "--url=http://x", "keys", "list"]));
        Assert.Equal(["--port", "1", "serve"], OSForAI.Cli.Cli.MoveLeadingClientOptions(["--port", "1", "serve"]));
        Assert.Equal(["--home"], OSForAI.Cli.Cli.MoveLeadingClientOptions(["--home"]));
    }
}
