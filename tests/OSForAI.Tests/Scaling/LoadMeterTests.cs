using OSForAI.Scaling.Autoscaling;

namespace OSForAI.Tests.Scaling;

public sealed class LoadMeterTests
{
    [Fact]
    public void The_average_is_weighted_by_how_long_each_load_lasted()
    {
        var m = new LoadMeter();
        m.Set(0, 4);      // 4 for 1 s
        m.Set(1, 0);      // 0 for 2 s
        m.Set(3, 2);      // 2 for 1 s
        Assert.Equal((4 * 1 + 0 * 2 + 2 * 1) / 4.0, m.TakeAverage(4), 9);
        // The next period starts where the last ended and carries the current load.
        Assert.Equal(2, m.TakeAverage(5), 9);
        Assert.Equal(2, m.Current);
    }

    [Fact]
    public void An_empty_period_reports_the_current_load_and_time_never_runs_backwards()
    {
        var m = new LoadMeter();
        m.Set(10, 3);
        Assert.Equal(3, m.TakeAverage(10), 9);
        m.Set(9, 1);      // a late timestamp adds no negative area
        Assert.Equal(1, m.TakeAverage(11), 9);
        m.Set(11, -5);
        Assert.Equal(0, m.Current);
    }
}
