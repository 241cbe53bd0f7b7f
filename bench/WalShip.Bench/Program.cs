using BenchmarkDotNet.Running;

namespace WalShip.Bench;

public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["ratio"])
        {
            RatioReport.Print();
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
