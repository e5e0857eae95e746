// The stock synthesizer with this team's hooks: `dotnet run --project <this folder> -- synth aws` prints the customised
// program; the team's Pulumi.yaml names that command as its compiler.
return OSForAI.Stacks.StacksCli.Run(args, Console.Out, Console.Error, extensions: TeamStacks.TeamCustomisations.Create());
