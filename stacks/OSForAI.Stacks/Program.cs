return OSForAI.Stacks.StacksCli.Run(args, Console.Out, Console.Error);
