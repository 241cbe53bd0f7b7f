using WalShip.Commands;

namespace WalShip.Cli;

/// <summary>`walship policy`: reads its options and prints the IAM documents (text, or --json).</summary>
public static class PolicyCli
{
    public static Task<int> RunAsync(Invocation invocation)
    {
        var settings = invocation.Settings;
        string Required(OptionSpec spec, string why) =>
            settings.Get(spec) ?? throw new UsageException($"policy needs --{spec.Name} ({why}); see walship help policy");

        var inputs = new PolicyInputs(
            Required(OptionSpec.PolicyBucket, "the bucket holding the repository"),
            settings.Get(OptionSpec.PolicyPrefix) ?? "",
            Required(OptionSpec.PolicyReaderAccount, "the standby's 12-digit account id"),
            settings.Get(OptionSpec.PolicyReaderRoleName)!,
            Required(OptionSpec.ExternalId, "the trust policy requires it; pick a random one, e.g. openssl rand -hex 16, and give fetch the same"),
            settings.Get(OptionSpec.PolicyWriterRoleArn),
            settings.Get(OptionSpec.PolicyKmsKeyArn),
            settings.GetSwitch(OptionSpec.PolicyAllowPrune));
        PolicyDocuments documents;
        try
        {
            documents = PolicyCommand.Build(inputs);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        Console.Out.Write(settings.GetSwitch(OptionSpec.Json) ? PolicyCommand.RenderJson(documents) : PolicyCommand.RenderText(inputs, documents));
        return Task.FromResult(ExitCodes.Ok);
    }
}
