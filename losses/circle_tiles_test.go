package losses

import (
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

func init() {
	tileForms["circle"] = func(l Loss) (rows, tiles evalFn) {
		c := l.(*Circle)
		return func(x blas32.General, y []int, g blas32.General) float64 {
				return evalPairwise32(x, y, 0, c.Normalize, c.kernel, g)
			}, func(x blas32.General, y []int, g blas32.General) float64 {
				return evalTiles32(x, y, c.Normalize, c.tiles, g)
			}
	}
}

// circleTileSpecs are the circle specs the tile form is cross-checked on.
var circleTileSpecs = []string{
	"circle", "circle:gamma=256", "circle:gamma=1000", "circle:m=0.25", "circle:gamma=1,m=-0.3",
	"circle:normalize=false", "circle:normalize=false,gamma=16,m=0.1", "circle:gamma=20,m=1.5",
}

func TestCircleTilesMatchRows(t *testing.T) { checkTilesMatchRows(t, circleTileSpecs) }

func TestCircleTilesDeterministic(t *testing.T) { checkTilesDeterministic(t, circleTileSpecs) }

// TestCircleTilesEdgeLabels: see TestInfoNCETilesEdgeLabels.
func TestCircleTilesEdgeLabels(t *testing.T) {
	checkTilesEdgeLabels(t, []string{"circle", "circle:gamma=1000,normalize=false"})
}
