package losses

import (
	"testing"
)

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
